// sigstoreAttested behind the real kube-apiserver: `portcullis serve --policy` whose scope wants an
// SLSA provenance from the trusted builder. A Deployment is denied while the image's only
// provenance names another builder (the message names the attestation, the condition and the
// value it saw), and admitted once a correct attestation is attached with `portcullis attest`
// (within the 10 s a denial is cached). The API server's schema takes sigstoreAttested in a
// ClusterImagePolicy and refuses one without its predicateType.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateSigstoreKeyPair } from '../../src/image/signature/sigstore/index.ts';
import { runCli } from '../../test/helpers/cli.ts';
import { type Cluster, type CommandResult, eventually, startCluster } from '../harness.ts';
import {
  deploymentJson,
  ok,
  type Portcullis,
  podJson,
  repoRoot,
  type SignedRegistry,
  startPortcullis,
  startSignedRegistry,
} from './fixtures.ts';

const LABEL = 'e2e.portcullis.dev/attested';
const WEBHOOK = 'attested.e2e.portcullis.dev';
const SLSA_V1 = 'https://slsa.dev/provenance/v1';
const GENERATOR =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.0.0';
const CONDITION = `predicate.runDetails.builder.id == "${GENERATOR}"`;
const PASSPHRASE = 'e2e attestations';

describe('sigstoreAttested through the webhook', () => {
  let cluster: Cluster;
  let registry: SignedRegistry;
  let portcullis: Portcullis;
  let keyPath: string;

  const apply = (input: string, ...flags: string[]): Promise<CommandResult> =>
    cluster.kubectl(['apply', ...flags, '-f', '-'], { input });
  const attest = async (image: string, predicateFile: string) =>
    ok(
      await runCli(
        [
          'attest',
          '--key',
          keyPath,
          '--type',
          'slsaprovenance1',
          '--predicate',
          predicateFile,
          '--registries-conf',
          registry.registriesConf,
          image,
        ],
        { HOME: registry.work, COSIGN_PASSWORD: PASSPHRASE },
      ),
      `attest ${image}`,
    );

  before(async () => {
    [cluster, registry] = await Promise.all([startCluster(), startSignedRegistry()]);
    const h = registry.host;
    await Promise.all([registry.push('attested/app:v1', 'none'), registry.push('attested/probe:v1', 'none')]);
    const pair = await generateSigstoreKeyPair(new TextEncoder().encode(PASSPHRASE));
    keyPath = await registry.writeFile('attest.key', pair.privateKeyPem);
    const publicKey = await registry.writeFile('attest.pub', pair.publicKeyPem);
    const policy = await registry.writeFile(
      'policy.json',
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`${h}/attested`]: [
              {
                type: 'sigstoreAttested',
                keyPath: publicKey,
                predicateType: SLSA_V1,
                conditions: [CONDITION],
              },
            ],
          },
        },
      }),
    );
    portcullis = await startPortcullis(cluster, registry.work, [
      `--policy=${policy}`,
      `--registries.d=${registry.registriesD}`,
      `--registries-conf=${registry.registriesConf}`,
    ]);
    ok(await cluster.kubectl(['create', 'namespace', 'attested']), 'namespace');
    ok(await cluster.kubectl(['label', 'namespace', 'attested', `${LABEL}=on`]), 'label');
    await cluster.registerWebhook({
      name: WEBHOOK,
      url: `${portcullis.url}/validate`,
      failurePolicy: 'Fail',
      timeoutSeconds: 10,
      namespaceLabels: { [LABEL]: 'on' },
      rules: [
        { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] },
        {
          apiGroups: ['apps'],
          apiVersions: ['v1'],
          operations: ['CREATE', 'UPDATE'],
          resources: ['deployments'],
        },
      ],
    });
    await eventually('webhook active', async () => {
      const probe = await apply(podJson('probe', 'attested', [`${h}/attested/probe:v1`]), '--dry-run=server');
      return probe.stderr.includes(`admission webhook "${WEBHOOK}"`) ? true : undefined;
    });
  });

  after(async () => {
    await cluster?.stop();
    await portcullis?.stop();
    await registry?.stop();
  });

  test('a Deployment whose provenance names the wrong builder is denied, then admitted once a correct one is attached', async () => {
    const image = `${registry.host}/attested/app:v1`;
    const evil = join(registry.work, 'evil-provenance.json');
    await writeFile(
      evil,
      JSON.stringify({ runDetails: { builder: { id: 'https://evil.example/builder' } } }),
    );
    await attest(image, evil);

    const denied = await apply(deploymentJson('app', 'attested', image));
    assert.notEqual(denied.code, 0, denied.stdout);
    const marker = `admission webhook "${WEBHOOK}" denied the request: `;
    const message = denied.stderr.slice(denied.stderr.indexOf(marker) + marker.length).trimEnd();
    // The 512 characters a webhook message keeps hold the condition, the value seen and the layer.
    assert.ok(
      message.startsWith(
        `image "${image}" at spec.template.spec.containers[0].image is not trusted: an attestation of type "${SLSA_V1}" was required with its conditions met: condition ${JSON.stringify(CONDITION)} was false (saw predicate.runDetails.builder.id = "https://evil.example/builder") in .att layer sha256:`,
      ),
      message,
    );

    await attest(image, join(repoRoot, 'test', 'fixtures', 'attestations', 'slsa-provenance-v1.json'));
    // A denial is cached for 10 s: the new attestation counts once it has expired.
    const admitted = await eventually(
      'the Deployment admitted',
      async () => {
        const r = await apply(deploymentJson('app', 'attested', image));
        return r.code === 0 ? r : undefined;
      },
      30_000,
    );
    assert.match(admitted.stdout, /deployment.apps\/app created/);
  });

  test('the API server takes sigstoreAttested in a ClusterImagePolicy, and refuses it without predicateType', async () => {
    const cip = (requirement: object) =>
      JSON.stringify({
        apiVersion: 'portcullis.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'provenance' },
        spec: { default: [requirement] },
      });
    const keyData = Buffer.from('-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n').toString('base64');
    const good = { type: 'sigstoreAttested', keyData, predicateType: SLSA_V1, conditions: [CONDITION] };
    const crds = join(repoRoot, 'charts', 'portcullis', 'crds');
    ok(await cluster.kubectl(['apply', '-f', join(crds, 'clusterimagepolicies.yaml')]), 'CRD');
    await eventually('the CRD served', async () =>
      (await apply(cip(good), '--dry-run=server')).code === 0 ? true : undefined,
    );
    const { predicateType: _, ...withoutType } = good;
    const refused = await apply(cip(withoutType), '--dry-run=server');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /predicateType is required for sigstoreAttested/);
    const signedOnly = await apply(cip({ ...good, acceptDigestOnlySignatures: true }), '--dry-run=server');
    assert.match(signedOnly.stderr, /acceptDigestOnlySignatures is only for sigstoreSigned/);
  });
});
