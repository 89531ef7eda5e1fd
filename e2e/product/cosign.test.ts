// Images signed by the real cosign (v3.1.3 and v2.4.1, every way they sign:
// test/helpers/cosign-variants.ts) judged by `portcullis serve --policy` behind the real
// kube-apiserver: each case's verdict, and for a denial the webhook's one-line message with the
// exact reason, in a namespace whose policy wants the signature to name the repository and in one
// that also accepts digest-only signatures. Skips with a note when a cosign binary is absent.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  COSIGN_CASES,
  type CosignCase,
  cosignMissing,
  cosignPolicyJson,
  makeCosignCases,
} from '../../test/helpers/cosign-variants.ts';
import { expectedCosignVerdict } from '../../test/helpers/cosign-verdicts.ts';
import { type Cluster, type CommandResult, eventually, startCluster } from '../harness.ts';
import {
  type Portcullis,
  podJson,
  type SignedRegistry,
  startPortcullis,
  startSignedRegistry,
} from './fixtures.ts';

const LABEL = 'e2e.portcullis.dev/cosign';
const NAMESPACE = 'cosign';
const MODES = [
  { namespace: 'strict', digestOnly: false },
  { namespace: 'digest-only', digestOnly: true },
] as const;

describe('cosign-signed images through the webhook', { skip: cosignMissing() }, () => {
  let cluster: Cluster;
  let registry: SignedRegistry;
  let cases: CosignCase[] = [];
  const started: Portcullis[] = [];

  const dryRun = (name: string, namespace: string, image: string): Promise<CommandResult> =>
    cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: podJson(name, namespace, [image]) });

  before(async () => {
    [cluster, registry] = await Promise.all([startCluster(), startSignedRegistry()]);
    const made = await makeCosignCases(
      { host: registry.host, url: `http://${registry.host}` },
      NAMESPACE,
      registry.work,
    );
    cases = made.cases;
    await registry.push('gpg/unsigned:v1', 'none');
    for (const { namespace, digestOnly } of MODES) {
      const policy = await registry.writeFile(
        `policy-${namespace}.json`,
        cosignPolicyJson(registry.host, NAMESPACE, made.keys, digestOnly),
      );
      const p = await startPortcullis(cluster, registry.work, [
        `--policy=${policy}`,
        `--registries.d=${registry.registriesD}`,
        `--registries-conf=${registry.registriesConf}`,
      ]);
      started.push(p);
      assert.equal((await cluster.kubectl(['create', 'namespace', namespace])).code, 0);
      assert.equal(
        (await cluster.kubectl(['label', 'namespace', namespace, `${LABEL}=${namespace}`])).code,
        0,
      );
      await cluster.registerWebhook({
        name: `${namespace}.cosign.e2e.portcullis.dev`,
        url: `${p.url}/validate`,
        failurePolicy: 'Fail',
        timeoutSeconds: 10,
        namespaceLabels: { [LABEL]: namespace },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
      });
      // The API server picks up a new configuration within about a second: wait until it bites.
      await eventually(`webhook ${namespace} active`, async () => {
        const probe = await dryRun('probe', namespace, `${registry.host}/gpg/unsigned:v1`);
        return probe.stderr.includes(`admission webhook "${namespace}.cosign.e2e.portcullis.dev"`)
          ? true
          : undefined;
      });
    }
  });

  after(async () => {
    await cluster?.stop();
    await Promise.all(started.map((p) => p.stop()));
    await registry?.stop();
  });

  for (const [i, spec] of COSIGN_CASES.entries()) {
    for (const { namespace, digestOnly } of MODES) {
      const what = `${spec.kind}${spec.attest === undefined ? '' : ` (--type ${spec.attest[0]})`}`;
      test(`${what}: ${namespace}`, async () => {
        const c = cases[i];
        assert.ok(c !== undefined && c.kind === spec.kind);
        const { verdict } = expectedCosignVerdict(c, digestOnly);
        const result = await dryRun(`case-${i}`, namespace, c.image);
        if (verdict.allowed) {
          assert.equal(result.code, 0, result.stderr);
          assert.match(result.stdout, /created \(server dry run\)/);
          return;
        }
        assert.notEqual(result.code, 0, result.stdout);
        const marker = `admission webhook "${namespace}.cosign.e2e.portcullis.dev" denied the request: `;
        const at = result.stderr.indexOf(marker);
        assert.ok(at >= 0, result.stderr);
        assert.equal(
          result.stderr.slice(at + marker.length).trimEnd(),
          `image "${c.image}" at spec.containers[0].image is not trusted: ${verdict.reason}`,
        );
      });
    }
  }
});
