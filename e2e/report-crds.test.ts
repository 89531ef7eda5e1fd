// The chart's report CRDs against the real API server: rendered when the cluster has none, left
// out when another release (Kyverno, Policy Reporter) installed the same CRD, kept by the release
// that installed it, and accepted by the API server together with a report as Portcullis writes it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { type Cluster, startCluster } from './harness.ts';
import { ok, repoRoot } from './product/fixtures.ts';

const chart = join(repoRoot, 'charts', 'portcullis');
const NAMESPACE = 'portcullis';

describe('chart: report CRDs', () => {
  let cluster: Cluster;

  /** The CRD names a render against the cluster (lookup sees it) would install. */
  const renderedCrds = async (release: string, ...set: string[]): Promise<string[]> => {
    const out = ok(
      await cluster.helm([
        'template',
        release,
        chart,
        '--namespace',
        NAMESPACE,
        '--dry-run=server',
        ...set.flatMap((s) => ['--set', s]),
      ]),
      'helm template',
    );
    return parseAllDocuments(out)
      .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } } | null)
      .filter((d) => d?.kind === 'CustomResourceDefinition')
      .map((d) => d?.metadata?.name ?? '')
      .filter((name) => !name.endsWith('portcullis.dev'));
  };

  before(async () => {
    cluster = await startCluster();
    ok(await cluster.kubectl(['create', 'namespace', NAMESPACE]), 'namespace');
  });

  after(async () => {
    await cluster?.stop();
  });

  test('a cluster without them gets the CRD of each report API chosen', async () => {
    assert.deepEqual(await renderedCrds('portcullis'), ['policyreports.wgpolicyk8s.io']);
    assert.deepEqual(
      (await renderedCrds('portcullis', 'backgroundVerification.reports={wgpolicyk8s,openreports}')).sort(),
      ['policyreports.wgpolicyk8s.io', 'reports.openreports.io'],
    );
    assert.deepEqual(await renderedCrds('portcullis', 'backgroundVerification.installCRDs=false'), []);
    assert.deepEqual(await renderedCrds('portcullis', 'backgroundVerification.enabled=false'), []);
  });

  test("another release's CRD is left alone; the CRD and a report as Portcullis writes it are accepted", async () => {
    const text = await readFile(join(chart, 'report-crds', 'policyreports.wgpolicyk8s.io.yaml'), 'utf8');
    const crd = parseAllDocuments(text)[0]?.toJS() as { metadata: Record<string, unknown> };
    crd.metadata.labels = { 'app.kubernetes.io/managed-by': 'Helm' };
    crd.metadata.annotations = {
      'meta.helm.sh/release-name': 'kyverno',
      'meta.helm.sh/release-namespace': 'kyverno',
    };
    ok(await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(crd) }), 'a foreign CRD');
    ok(
      await cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']),
      'CRD',
    );
    assert.deepEqual(await renderedCrds('portcullis'), []);
    // Installed by this release: an upgrade keeps rendering it (else Helm would delete it).
    ok(
      await cluster.kubectl([
        'annotate',
        '--overwrite',
        'crd',
        'policyreports.wgpolicyk8s.io',
        'meta.helm.sh/release-name=portcullis',
      ]),
      'annotate',
    );
    assert.deepEqual(await renderedCrds('portcullis'), ['policyreports.wgpolicyk8s.io']);
    // What the verifier applies: its schema must take every field.
    const report = {
      apiVersion: 'wgpolicyk8s.io/v1alpha2',
      kind: 'PolicyReport',
      metadata: { name: 'portcullis-images', namespace: NAMESPACE },
      summary: { pass: 0, fail: 1, warn: 0, error: 0, skip: 0 },
      results: [
        {
          source: 'portcullis',
          policy: 'ClusterImagePolicy/signed',
          rule: 'image-trust',
          category: 'Image Trust',
          result: 'fail',
          scored: true,
          timestamp: { seconds: 1_790_000_000, nanos: 0 },
          message: 'A signature was required, but no signature exists',
          resources: [
            { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: NAMESPACE, uid: 'u-1' },
          ],
          properties: { image: 'registry.example/web:v1', pods: '3', mode: 'enforce' },
        },
      ],
    };
    ok(
      await cluster.kubectl(['apply', '--server-side', '--field-manager=portcullis', '-f', '-'], {
        input: JSON.stringify(report),
      }),
      'a report',
    );
    const read = JSON.parse(
      ok(await cluster.kubectl(['get', 'polr', 'portcullis-images', '-n', NAMESPACE, '-o', 'json']), 'get'),
    ) as { results: unknown[] };
    assert.deepEqual(read.results, report.results, 'nothing pruned');
  });
});
