// A verification run as background work that meets its registry budget's reserve while reading
// sigstore signatures (after the image's manifest) says so in its code, BUDGET_RESERVED, rather
// than the evaluator's EVALUATION_FAILED: the scan then reports it put off, not undecided.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { asBackgroundWork, parseNormalizedNamed, sigstoreVerifier } from '../../src/image/index.ts';
import { DockerTransport, RegistrySession } from '../../src/image/transports/docker/index.ts';
import { loadPolicy, type TrustPolicy } from '../../src/policy/index.ts';
import type { CheckObserver } from '../../src/policy/types.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { type SyntheticImage, syntheticImage } from '../helpers/synthetic-image.ts';

const observer: CheckObserver = { stage: () => {}, cache: () => {}, registryRequest: () => {} };
const platforms = { kind: 'platforms', platforms: [{ os: 'linux', architecture: 'amd64' }] } as const;

describe('a background verification held back by the reserve while reading signatures', () => {
  let env: DockerTestEnv;
  let registry: TestRegistry;
  let image: SyntheticImage;
  let policyPath: string;

  before(async () => {
    env = await dockerTestEnv();
    registry = await startRegistry();
    image = syntheticImage({ layers: 1 });
    await putImage(
      await env.transport.parseReference(`//${registry.host}/app:1`).newImageDestination(env.ctx),
      image,
    );
    await mkdir(env.ctx.registriesDirPath!, { recursive: true });
    await writeFile(
      join(env.ctx.registriesDirPath!, 'test.yaml'),
      `docker:\n  ${registry.host}:\n    use-sigstore-attachments: true\n`,
    );
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const keyPath = join(env.dir, 'cosign.pub');
    await writeFile(keyPath, publicKey.export({ type: 'spki', format: 'pem' }));
    policyPath = join(env.dir, 'policy.json');
    await writeFile(
      policyPath,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: { docker: { [registry.host]: [{ type: 'sigstoreSigned', keyPath }] } },
      }),
    );
  });
  after(async () => {
    await registry?.stop();
    await env?.cleanup();
  });

  it('is a transient BUDGET_RESERVED error; an admission then reads the signatures from the reserve', async () => {
    // One pull for background work (the image manifest; its `.sig` manifest would be the second);
    // an admission reads the manifest, the `.sig` manifest and the referrers fallback.
    const session = new RegistrySession({
      budgets: new Map([[registry.host, { pulls: 4, periodMs: 3_600_000, reserve: 3 }]]),
    });
    const transport = new DockerTransport(env.environment, session);
    try {
      const policy: TrustPolicy = await loadPolicy(policyPath, {
        transport,
        sigstore: sigstoreVerifier(),
        context: env.ctx,
      });
      const ref = parseNormalizedNamed(`${registry.host}/app:1`);
      const evaluate = () =>
        policy.evaluate(
          ref,
          image.manifestDigest,
          { dockerConfigJson: [] },
          new AbortController().signal,
          observer,
          platforms,
        );
      const background = await asBackgroundWork({ reserved: new Map() }, evaluate);
      assert.equal(background.kind, 'error', JSON.stringify(background));
      assert.equal(
        background.kind === 'error' && background.code,
        'BUDGET_RESERVED',
        JSON.stringify(background),
      );
      assert.equal(background.kind === 'error' && background.transient, true);
      const admission = await evaluate();
      assert.equal(admission.kind, 'denied', JSON.stringify(admission));
      assert.match(admission.kind === 'denied' ? admission.reason : '', /signature/i);
    } finally {
      await transport.close();
    }
  });
});
