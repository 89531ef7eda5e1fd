// manifests/portcullis.yaml is rendered from the chart by scripts/render-manifests.sh: this fails
// when someone changes the chart (or its CRDs) and forgets to render again.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ensureBinaries } from '../binaries.ts';
import { run } from '../harness.ts';
import { repoRoot } from './fixtures.ts';

const committed = join(repoRoot, 'manifests', 'portcullis.yaml');

test('manifests/portcullis.yaml equals a fresh render of the chart', async () => {
  const { helm } = await ensureBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-manifests-'));
  try {
    const fresh = join(dir, 'portcullis.yaml');
    const result = await run('bash', [join(repoRoot, 'scripts', 'render-manifests.sh'), fresh], {
      env: { HELM: helm },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      await readFile(committed, 'utf8'),
      await readFile(fresh, 'utf8'),
      'manifests/ drifted from charts/portcullis: run scripts/render-manifests.sh and commit the result',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the manifests hold the CRDs, the webhook, an empty certificate Secret, no Helm hook, no key, no cert-manager', async () => {
  const docs = parseAllDocuments(await readFile(committed, 'utf8')).map((d) => d.toJS() as Manifest | null);
  const kinds = docs.filter((d) => d !== null).map((d) => `${d.kind}/${d.metadata.name}`);
  for (const expected of [
    'Namespace/portcullis',
    'CustomResourceDefinition/clusterimagepolicies.portcullis.dev',
    'CustomResourceDefinition/imagepolicies.portcullis.dev',
    'Deployment/portcullis',
    'Secret/portcullis-certs',
    'ValidatingWebhookConfiguration/portcullis',
  ]) {
    assert.ok(kinds.includes(expected), `${expected} missing from ${kinds.join(', ')}`);
  }
  assert.ok(!kinds.some((k) => k.startsWith('Job/')), kinds.join(', '));
  assert.ok(!docs.some((d) => d?.apiVersion?.startsWith('cert-manager.io/')), 'no cert-manager object');
  const secrets = docs.filter((d) => d?.kind === 'Secret');
  assert.deepEqual(
    secrets.map((s) => [s?.metadata.name, s?.data, s?.stringData]),
    [['portcullis-certs', undefined, undefined]],
    'the one Secret is created empty: the webhook fills it',
  );
  const webhook = docs.find((d) => d?.kind === 'ValidatingWebhookConfiguration');
  assert.equal(webhook?.webhooks?.[0]?.clientConfig.caBundle, undefined, 'the webhook sets its own caBundle');
});

interface Manifest {
  apiVersion?: string;
  kind: string;
  metadata: { name: string };
  data?: unknown;
  stringData?: unknown;
  webhooks?: { clientConfig: { caBundle?: string } }[];
}
