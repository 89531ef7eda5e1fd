// The webhook end to end (HTTPS server, production components, loopback Distribution registry)
// for images whose only sigstore signature is a bundle attached as an OCI 1.1 referrer.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CACHE_LIMITS } from '../../src/cache/index.ts';
import { type Digest, parseDigest } from '../../src/image/digest.ts';
import type { SigstoreSigner } from '../../src/image/signature/sigstore/index.ts';
import type { PullSecretSource } from '../../src/policy/index.ts';
import { productionComponents, type RunningServer, startServer } from '../../src/server.ts';
import { writeSelfSignedCertificate } from '../../src/webhook/tls.ts';
import { type DockerTestEnv, dockerTestEnv } from '../helpers/docker-env.ts';
import { httpsRequest } from '../helpers/https.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import {
  bundlePolicyJson,
  DIGEST_ONLY_NAMESPACE,
  newSigstoreSigner,
  pushImageWithBundle,
} from '../helpers/sigstore-bundles.ts';
import { podSpec, review, workload } from './rig.ts';

const PASS = new TextEncoder().encode('webhook referrers');

describe('webhook: sigstore bundles as OCI 1.1 referrers', () => {
  let registry: TestRegistry;
  let env: DockerTestEnv;
  let work: string;
  let server: RunningServer;
  let ca: Buffer;

  const signer = async () => (await newSigstoreSigner(PASS)).signer;
  let trusted: SigstoreSigner;
  let unknown: SigstoreSigner;

  const admit = async (image: string, uid: string) => {
    const body = review('', 'Pod', workload('', 'Pod', podSpec([image])), { uid });
    const res = await httpsRequest(`${server.url}/validate`, { ca, body });
    assert.equal(res.status, 200, res.body);
    return JSON.parse(res.body).response;
  };

  /** Pushes `repo:v1` with one bundle referrer by `by`; returns the pod's image name and digest. */
  const pushSigned = async (repo: string, by: SigstoreSigner, signedDigest?: Digest) => {
    const { digest } = await pushImageWithBundle(registry, repo, by, signedDigest);
    return { image: `${registry.host}/${repo}:v1`, digest };
  };

  before(async () => {
    [registry, env] = await Promise.all([startRegistry(), dockerTestEnv()]);
    [trusted, unknown] = await Promise.all([signer(), signer()]);
    work = await mkdtemp(join(tmpdir(), 'portcullis-webhook-referrers-'));
    await writeFile(join(work, 'policy.json'), bundlePolicyJson(registry.host, trusted));
    const pullSecrets: PullSecretSource = { secretsFor: async () => ({ dockerConfigJson: [] }) };
    const tls = await writeSelfSignedCertificate(work, ['127.0.0.1']);
    ca = await readFile(tls.certPath);
    const components = productionComponents(
      {
        registriesDirPath: env.ctx.registriesDirPath,
        registriesConfPath: env.ctx.registriesConfPath,
        authFilePath: env.ctx.authFilePath,
      },
      env.transport,
    );
    server = await startServer(
      {
        policyPath: join(work, 'policy.json'),
        host: '127.0.0.1',
        port: 0,
        tlsCertPath: tls.certPath,
        tlsKeyPath: tls.keyPath,
        deadlineMs: 5000,
        mode: 'enforce',
        unknownKinds: 'allow',
        bodyLimit: 1024 * 1024,
        logLevel: 'silent',
        platforms: { kind: 'platforms', platforms: [{ os: 'linux', architecture: 'amd64' }] },
        watchIntervalMs: 60_000,
        shutdownDelayMs: 0,
        cache: DEFAULT_CACHE_LIMITS,
      },
      { ...components, pullSecrets },
    );
  });
  after(async () => {
    await server?.close();
    await Promise.all([registry?.stop(), env?.cleanup()]);
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('admits a pod whose image is signed only by a trusted bundle, where digest-only signatures are accepted', async () => {
    const { image } = await pushSigned(`${DIGEST_ONLY_NAMESPACE}/trusted`, trusted);
    const response = await admit(image, 'uid-trusted');
    assert.equal(response.allowed, true, JSON.stringify(response));
  });

  it('denies the same trusted bundle elsewhere: it binds only the digest, and says how to accept that', async () => {
    const { image, digest } = await pushSigned('webhook/digest-only', trusted);
    const response = await admit(image, 'uid-digest-only');
    assert.equal(response.allowed, false);
    assert.equal(
      response.status.message,
      `image "${image}" at spec.containers[0].image is not trusted: 1 signature found, rejected: binds only the digest, names no reference for signedIdentity (to accept signatures that bind only the digest under this scope, set "acceptDigestOnlySignatures": true on the requirement); probed: tag ${digest.replace(':', '-')}.sig: no signatures; referrers: 1 artifact (1 of type application/vnd.dev.sigstore.bundle.v0.3+json: binds only the digest, names no reference for signedIdentity)`,
    );
  });

  it('denies a bundle by an unknown key, saying first what was found', async () => {
    const { image, digest } = await pushSigned(`${DIGEST_ONLY_NAMESPACE}/unknown`, unknown);
    const response = await admit(image, 'uid-unknown');
    assert.equal(response.allowed, false);
    assert.equal(
      response.status.message,
      `image "${image}" at spec.containers[0].image is not trusted: 1 signature found, rejected: signed by an unknown key; probed: tag ${digest.replace(':', '-')}.sig: no signatures; referrers: 1 artifact (1 of type application/vnd.dev.sigstore.bundle.v0.3+json: signed by an unknown key)`,
    );
  });

  it('denies a trusted bundle made for another digest', async () => {
    const another = parseDigest(`sha256:${createHash('sha256').update('another image').digest('hex')}`);
    const { image } = await pushSigned(`${DIGEST_ONLY_NAMESPACE}/other-digest`, trusted, another);
    const response = await admit(image, 'uid-other-digest');
    assert.equal(response.allowed, false);
    assert.match(
      response.status.message,
      /referrers: 1 artifact \(1 of type \S+: signature for another image\)/,
    );
  });
});
