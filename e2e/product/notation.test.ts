// Portcullis (`serve --policy FILE`) behind the real kube-apiserver with a notationSigned
// requirement: an image notation-go signed (test/tools/notation-sign, JWS envelope, listed in the
// registry's tag-schema referrers index) is admitted; an unsigned one and one signed by an
// untrusted CA are denied with the reason. Skips when the signer is not built.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { notationGoSign, notationSignMissing } from '../../test/image/signature/notation/notation-go.ts';
import { makePki, type NotationPki, notationRequirement } from '../../test/image/signature/notation/pki.ts';
import { type Cluster, type CommandResult, eventually, startCluster } from '../harness.ts';
import {
  type Portcullis,
  podJson,
  type SignedRegistry,
  startPortcullis,
  startSignedRegistry,
} from './fixtures.ts';

const LABEL = 'e2e.portcullis.dev/mode';
const WEBHOOK = 'notation.e2e.portcullis.dev';

describe('notationSigned behind the real API server', { skip: notationSignMissing }, () => {
  let cluster: Cluster;
  let registry: SignedRegistry;
  let portcullis: Portcullis;
  let pki: NotationPki;
  let h: string;

  const apply = (input: string, ...flags: string[]): Promise<CommandResult> =>
    cluster.kubectl(['apply', ...flags, '-f', '-'], { input });

  function denial(result: CommandResult): string {
    assert.notEqual(result.code, 0, `expected a denial, got: ${result.stdout}`);
    const marker = `admission webhook "${WEBHOOK}" denied the request: `;
    const at = result.stderr.indexOf(marker);
    assert.ok(at >= 0, result.stderr);
    return result.stderr.slice(at + marker.length).trimEnd();
  }

  before(async () => {
    [cluster, registry] = await Promise.all([startCluster(), startSignedRegistry()]);
    h = registry.host;
    pki = await makePki(registry.work);
    await Promise.all([
      registry.push('notation/app:v1', 'none'),
      registry.push('notation/unsigned:v1', 'none'),
      registry.push('notation/stranger:v1', 'none'),
    ]);
    await notationGoSign(`${h}/notation/app:v1`, { cert: pki.leaf, envelope: 'jws' });
    await notationGoSign(`${h}/notation/stranger:v1`, { cert: pki.stranger, envelope: 'cose' });
    const policyPath = await registry.writeFile(
      'notation-policy.json',
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`${h}/notation`]: [notationRequirement(pki.root.path)],
          },
        },
      }),
    );
    const created = await cluster.kubectl(['create', 'namespace', 'notation']);
    assert.equal(created.code, 0, created.stderr);
    const labelled = await cluster.kubectl(['label', 'namespace', 'notation', `${LABEL}=notation`]);
    assert.equal(labelled.code, 0, labelled.stderr);
    portcullis = await startPortcullis(cluster, registry.work, [
      `--registries.d=${registry.registriesD}`,
      `--registries-conf=${registry.registriesConf}`,
      '--timeout=3',
      `--policy=${policyPath}`,
    ]);
    await cluster.registerWebhook({
      name: WEBHOOK,
      kind: 'validating',
      url: `${portcullis.url}/validate`,
      failurePolicy: 'Fail',
      timeoutSeconds: 8,
      namespaceLabels: { [LABEL]: 'notation' },
      rules: [
        { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods'] },
      ],
    });
    await eventually('webhook active', async () => {
      const probe = await apply(
        podJson('probe', 'notation', [`${h}/notation/unsigned:v1`]),
        '--dry-run=server',
      );
      return probe.stderr.includes(`admission webhook "${WEBHOOK}"`) ? true : undefined;
    });
  });

  after(async () => {
    await cluster?.stop();
    await portcullis?.stop();
    await registry?.stop();
  });

  test('a pod with a Notation-signed image is admitted', async () => {
    const pod = await apply(podJson('signed', 'notation', [`${h}/notation/app:v1`]));
    assert.equal(pod.code, 0, pod.stderr);
    assert.match(pod.stdout, /pod\/signed created/);
  });

  test('a pod with an unsigned image is denied: no Notation signature exists', async () => {
    assert.equal(
      denial(await apply(podJson('unsigned', 'notation', [`${h}/notation/unsigned:v1`]))),
      `image "${h}/notation/unsigned:v1" at spec.containers[0].image is not trusted: A Notation signature was required, but none exists (probed: referrers: no notation signatures)`,
    );
  });

  test('a pod with an image signed by an untrusted CA is denied with the reason', async () => {
    const message = denial(await apply(podJson('stranger', 'notation', [`${h}/notation/stranger:v1`])));
    assert.match(
      message,
      /is not trusted: None of the Notation signatures were accepted, reasons: sha256:[0-9a-f]{64}: no certificate of the chain is in the ca trust store$/,
    );
  });
});
