// A two-platform (linux/amd64, linux/arm64) OCI index on a loopback registry, signed per instance
// or on the index only, with GPG (lookaside, made by skopeo standalone-sign) and sigstore
// (cosign attachments `sha256-<hex>.sig`), and the policies that check them. Shared by the
// `policy eval` and webhook multi-arch tests.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { type Digest, digestHex, digestOf, OCI_INDEX_MEDIA_TYPE } from '../../src/image/index.ts';
import { type SigstoreSigner, sigstoreSignerFromKey } from '../../src/image/signature/sigstore/index.ts';
import { type GnupgHome, gnupgHome } from '../image/signature/gnupg.ts';
import { type DockerTestEnv, dockerTestEnv } from './docker-env.ts';
import { startRegistry, type TestRegistry } from './registry.ts';
import { type SyntheticImage, syntheticImage } from './synthetic-image.ts';

const run = promisify(execFile);

export const PLATFORMS = ['amd64', 'arm64'] as const;
export type Arch = (typeof PLATFORMS)[number];

/** What is signed in a repository: the amd64 instance only, or the index only. */
export type Signed = 'instance' | 'index';

export interface PushedIndex {
  /** `host/repo:v1`, the name a pod gives. */
  readonly image: string;
  readonly digest: Digest;
  readonly instances: Readonly<Record<Arch, Digest>>;
}

export interface MultiArchFixture {
  readonly registry: TestRegistry;
  readonly env: DockerTestEnv;
  readonly gpg: GnupgHome;
  readonly work: string;
  readonly registriesD: string;
  /** policy.json paths: signedBy / sigstoreSigned, each without and with acceptIndexSignatures. */
  readonly policies: Readonly<Record<'gpg' | 'gpg-index' | 'sigstore' | 'sigstore-index', string>>;
  /** `multi/<gpg|sigstore>-instance` (amd64 instance signed) and `multi/<gpg|sigstore>-index`. */
  readonly images: Readonly<Record<`${'gpg' | 'sigstore'}-${Signed}`, PushedIndex>>;
  cleanup(): Promise<void>;
}

async function pushIndex(
  f: { env: DockerTestEnv; registry: TestRegistry; registriesD: string },
  repo: string,
) {
  const host = f.registry.host;
  const dest = await f.env.transport
    .parseReference(`//${host}/${repo}:v1`)
    .newImageDestination({ ...f.env.ctx, registriesDirPath: f.registriesD, tlsVerify: false });
  const images = {} as Record<Arch, SyntheticImage>;
  try {
    for (const architecture of PLATFORMS) {
      const image = syntheticImage({ architecture, labels: { repo, architecture } });
      images[architecture] = image;
      for (const b of [image.config, ...image.layers]) {
        await dest.putBlob(
          Readable.from([b.bytes]),
          { digest: b.digest, size: b.bytes.length },
          { isConfig: b === image.config },
        );
      }
      await dest.putManifest(image.manifest, image.mimeType, image.manifestDigest);
    }
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX_MEDIA_TYPE,
        manifests: PLATFORMS.map((architecture) => ({
          mediaType: images[architecture].mimeType,
          digest: images[architecture].manifestDigest,
          size: images[architecture].manifest.length,
          platform: { architecture, os: 'linux' },
        })),
      }),
    );
    await dest.putManifest(index, OCI_INDEX_MEDIA_TYPE);
    await dest.commit();
    return {
      dest,
      index,
      instanceManifest: images.amd64.manifest,
      pushed: {
        image: `${host}/${repo}:v1`,
        digest: digestOf(index),
        instances: { amd64: images.amd64.manifestDigest, arm64: images.arm64.manifestDigest },
      },
    };
  } catch (err) {
    await dest.close();
    throw err;
  }
}

export async function multiArchFixture(): Promise<MultiArchFixture> {
  const [registry, env, gpg] = await Promise.all([startRegistry(), dockerTestEnv(), gnupgHome()]);
  const work = await mkdtemp(join(tmpdir(), 'portcullis-multiarch-'));
  const registriesD = join(work, 'registries.d');
  const lookaside = join(work, 'lookaside');
  const host = registry.host;
  // `sigstore:` (not `lookaside:`) so that skopeo 1.9.3 reads the same configuration.
  await mkdir(registriesD, { recursive: true });
  await writeFile(
    join(registriesD, 'test.yaml'),
    `docker:\n  ${host}:\n    sigstore: file://${lookaside}\n    use-sigstore-attachments: true\n`,
  );
  const fingerprint = await gpg.generate('Trusted <trusted@example.com>', 'ed25519');
  const keyring = join(work, 'trusted.gpg');
  await writeFile(keyring, await gpg.exportPublic(fingerprint));
  const cosign: SigstoreSigner = sigstoreSignerFromKey(
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  );
  const cosignPub = join(work, 'cosign.pub');
  await writeFile(cosignPub, cosign.publicKeyPem);

  const f = { env, registry, registriesD };
  const images = {} as Record<`${'gpg' | 'sigstore'}-${Signed}`, PushedIndex>;
  for (const kind of ['gpg', 'sigstore'] as const) {
    for (const signed of ['instance', 'index'] as const) {
      const repo = `multi/${kind}-${signed}`;
      const { dest, index, instanceManifest, pushed } = await pushIndex(f, repo);
      try {
        const digest = signed === 'instance' ? pushed.instances.amd64 : pushed.digest;
        if (kind === 'sigstore') {
          await dest.putSignatures([cosign.sign(digest, pushed.image)], digest);
        } else {
          // skopeo standalone-sign over the signed manifest, stored where lookaside readers look.
          const manifestFile = join(work, `${digestHex(digest)}.json`);
          const manifest = signed === 'index' ? index : instanceManifest;
          await writeFile(manifestFile, manifest);
          const dir = join(lookaside, `${repo}@sha256=${digestHex(digest)}`);
          await mkdir(dir, { recursive: true });
          await run(
            'skopeo',
            ['standalone-sign', manifestFile, pushed.image, fingerprint, '-o', join(dir, 'signature-1')],
            { env: gpg.env },
          );
        }
      } finally {
        await dest.close();
      }
      images[`${kind}-${signed}`] = pushed;
    }
  }

  const policy = async (name: string, requirement: Record<string, unknown>) => {
    const path = join(work, `${name}.json`);
    await writeFile(
      path,
      JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [host]: [requirement] } } }),
    );
    return path;
  };
  const signedBy = { type: 'signedBy', keyType: 'GPGKeys', keyPath: keyring };
  const sigstoreSigned = { type: 'sigstoreSigned', keyPath: cosignPub };
  const policies = {
    gpg: await policy('gpg', signedBy),
    'gpg-index': await policy('gpg-index', { ...signedBy, acceptIndexSignatures: true }),
    sigstore: await policy('sigstore', sigstoreSigned),
    'sigstore-index': await policy('sigstore-index', { ...sigstoreSigned, acceptIndexSignatures: true }),
  };
  return {
    registry,
    env,
    gpg,
    work,
    registriesD,
    policies,
    images,
    async cleanup() {
      await Promise.all([registry.stop(), env.cleanup(), gpg.remove()]);
      await rm(work, { recursive: true, force: true });
    },
  };
}
