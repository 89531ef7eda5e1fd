// The whole webhook over HTTPS with the real components: policy.json through the signature
// layer, the docker transport against a real Distribution registry, images signed by skopeo
// 1.9.3 (GPG simple signing in a lookaside, and cosign-format sigstore attachments).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CACHE_LIMITS } from '../../src/cache/index.ts';
import { type SigstoreSigner, sigstoreSignerFromKey } from '../../src/image/signature/sigstore/signer.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { writeSelfSignedCertificate } from '../../src/webhook/tls.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../helpers/docker-env.ts';
import { httpsRequest } from '../helpers/https.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { syntheticImage } from '../helpers/synthetic-image.ts';
import { type GnupgHome, gnupgHome } from '../image/signature/gnupg.ts';
import { realComponents, serverConfig, skopeoPush, writeRegistriesD } from './real-server.ts';
import { podSpec, review, workload } from './rig.ts';

// Short enough for the moved-tag test, long enough that back-to-back admissions on a loaded
// machine still find the tag cached.
const TAG_TTL_MS = 5000;

describe('webhook over HTTPS against a real registry', () => {
  let registry: TestRegistry;
  let env: DockerTestEnv;
  let gpg: GnupgHome;
  let work: string;
  let server: RunningServer;
  let ca: Buffer;
  let h: string;
  let cosignSigner: SigstoreSigner;

  /** Pushes a fresh synthetic image with skopeo, GPG-signed by skopeo when `fingerprint` is given. */
  const push = (repoTag: string, fingerprint?: string) =>
    skopeoPush(work, `${h}/${repoTag}`, fingerprint === undefined ? [] : ['--sign-by', fingerprint], gpg.env);

  /**
   * Pushes an image with a cosign-format signature attached. Debian's skopeo is built without
   * sigstore signing, so the signature comes from the library's signer (checked against cosign
   * in the sigstore tests) and is stored through the docker transport.
   */
  async function pushCosignSigned(repoTag: string): Promise<void> {
    const image = syntheticImage({ labels: { image: repoTag } });
    const ctx = { ...env.ctx, registriesDirPath: join(work, 'registries.d'), tlsVerify: false };
    const dest = await env.transport.parseReference(`//${h}/${repoTag}`).newImageDestination(ctx);
    try {
      await putImage(dest, image);
      await dest.putSignatures([cosignSigner.sign(image.manifestDigest, `${h}/${repoTag}`)]);
    } finally {
      await dest.close();
    }
  }

  const pod = (...images: string[]) => review('', 'Pod', workload('', 'Pod', podSpec(images)));
  const post = async (path: string, body: unknown) => {
    const res = await httpsRequest(`${server.url}${path}`, { ca, body });
    assert.equal(res.status, 200, res.body);
    return JSON.parse(res.body).response;
  };
  const registryRequests = async () => {
    const text = (await httpsRequest(`${server.url}/metrics`, { ca })).body;
    return [...text.matchAll(/^portcullis_registry_requests_total\{[^}]*\} (\d+)$/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
  };

  before(async () => {
    [registry, env, gpg] = await Promise.all([startRegistry(), dockerTestEnv(), gnupgHome()]);
    work = await mkdtemp(join(tmpdir(), 'portcullis-webhook-it-'));
    h = registry.host;
    const trusted = await gpg.generate('Trusted <trusted@example.com>', 'ed25519');
    const untrusted = await gpg.generate('Untrusted <untrusted@example.com>', 'ed25519');
    cosignSigner = sigstoreSignerFromKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    await writeFile(join(work, 'cosign.pub'), cosignSigner.publicKeyPem);
    await writeFile(join(work, 'trusted.gpg'), await gpg.exportPublic(trusted));
    await writeRegistriesD(work, h, true);
    await push('ns/gpg:v1', trusted);
    await push('ns/gpg-untrusted:v1', untrusted);
    await push('ns/unsigned:v1');
    await pushCosignSigned('cosign/app:v1');
    await push('cosign/unsigned:v1');
    const signedBy = { type: 'signedBy', keyType: 'GPGKeys', keyPath: join(work, 'trusted.gpg') };
    const cosign = {
      type: 'sigstoreSigned',
      keyPath: join(work, 'cosign.pub'),
      signedIdentity: { type: 'matchRepository' },
    };
    await writeFile(
      join(work, 'policy.json'),
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`${h}/ns`]: [signedBy],
            [`${h}/cosign`]: [cosign],
            'unreachable.invalid/open': [{ type: 'insecureAcceptAnything' }],
          },
        },
      }),
    );
    const tls = await writeSelfSignedCertificate(work, ['127.0.0.1']);
    ca = await readFile(tls.certPath);
    server = await startServer(
      serverConfig(work, { cache: { ...DEFAULT_CACHE_LIMITS, digestTtlMs: TAG_TTL_MS } }),
      realComponents(work, env.transport),
    );
  });
  after(async () => {
    await server?.close();
    await Promise.all([registry?.stop(), env?.cleanup(), gpg?.remove()]);
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('admits an image signed with a trusted GPG key', async () => {
    const response = await post('/validate', pod(`${h}/ns/gpg:v1`));
    assert.equal(response.allowed, true, JSON.stringify(response));
  });

  it('denies an unsigned image, naming it, its field and the policy reason', async () => {
    const response = await post('/validate', pod(`${h}/ns/gpg:v1`, `${h}/ns/unsigned:v1`));
    assert.equal(response.allowed, false);
    assert.equal(
      response.status.message,
      `image "${h}/ns/unsigned:v1" at spec.containers[1].image is not trusted: A signature was required, but no signature exists`,
    );
  });

  it('denies an image signed by a key the policy does not trust', async () => {
    const response = await post('/validate', pod(`${h}/ns/gpg-untrusted:v1`));
    assert.equal(response.allowed, false);
    assert.match(
      response.status.message,
      /gpg-untrusted:v1" at spec\.containers\[0\]\.image is not trusted: /,
    );
  });

  it('admits a cosign-signed image and denies an unsigned one under sigstoreSigned', async () => {
    assert.equal((await post('/validate', pod(`${h}/cosign/app:v1`))).allowed, true);
    const denied = await post('/validate', pod(`${h}/cosign/unsigned:v1`));
    assert.equal(denied.allowed, false);
    assert.match(denied.status.message, /A signature was required, but no signature exists/);
  });

  it('answers reject and insecureAcceptAnything scopes without any network', async () => {
    const before = await registryRequests();
    const response = await post(
      '/validate',
      pod('unreachable.invalid/open/tool:1', 'unreachable.invalid/other/tool:1'),
    );
    assert.equal(response.allowed, false);
    assert.equal(
      response.status.message,
      'image "unreachable.invalid/other/tool:1" at spec.containers[1].image is not trusted: Running image docker://unreachable.invalid/other/tool:1 is rejected by policy.',
    );
    assert.equal(await registryRequests(), before);
  });

  it('serves a repeated admission from the caches without registry requests', async () => {
    await post('/validate', pod(`${h}/ns/gpg:v1`));
    const before = await registryRequests();
    assert.equal((await post('/validate', pod(`${h}/ns/gpg:v1`))).allowed, true);
    assert.equal(await registryRequests(), before);
  });

  it('pins the verified digest on Pods through /mutate', async () => {
    const response = await post('/mutate', pod(`${h}/ns/gpg:v1`));
    assert.equal(response.allowed, true);
    const [op] = JSON.parse(Buffer.from(response.patch, 'base64').toString());
    const head = await fetch(`${registry.url}/v2/ns/gpg/manifests/v1`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.deepEqual(op, {
      op: 'replace',
      path: '/spec/containers/0/image',
      value: `${h}/ns/gpg:v1@${head.headers.get('docker-content-digest')}`,
    });
  });

  it('re-verifies a tag that moved to an unsigned image once the short tag cache expires', async () => {
    assert.equal((await post('/validate', pod(`${h}/ns/gpg:v1`))).allowed, true);
    await push('ns/gpg:v1');
    await new Promise((r) => setTimeout(r, TAG_TTL_MS + 100));
    const response = await post('/validate', pod(`${h}/ns/gpg:v1`));
    assert.equal(response.allowed, false);
    assert.match(response.status.message, /no signature exists/);
  });
});
