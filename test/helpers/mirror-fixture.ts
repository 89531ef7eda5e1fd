// Two loopback registries (an origin and a mirror) and the signing material of both sides, for the
// mirroring tests, the e2e scenario and the benchmark. Origin signatures are made independently of
// the code under test: GPG by skopeo with gpg, cosign attachments and bundle referrers pushed with
// plain HTTP (the signatures themselves by node:crypto through the test PKI helpers).
import { execFile } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Digest } from '../../src/image/digest.ts';
import { buildSigstorePayload } from '../../src/image/signature/sigstore/payload.ts';
import { generateSigstoreKeyPair } from '../../src/image/signature/sigstore/privatekey.ts';
import { type GnupgHome, gnupgHome } from '../image/signature/gnupg.ts';
import { RegistryClient } from '../image/signature/sigstore/oci.ts';
import { keyBundle, signedAttachment } from '../image/signature/sigstore/pki.ts';
import { type RegistryOptions, startRegistry, type TestRegistry } from './registry.ts';
import { syntheticImage, writeOciLayout } from './synthetic-image.ts';

const run = promisify(execFile);
export const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

export interface MirrorFixture {
  readonly work: string;
  readonly origin: TestRegistry;
  readonly mirror: TestRegistry;
  readonly gpg: GnupgHome;
  /** GPG fingerprints of the origin's and the mirror's signing keys. */
  readonly originFpr: string;
  readonly mirrorFpr: string;
  /** Public key files: GPG keyrings and cosign PEMs of both sides. */
  readonly originGpgPub: string;
  readonly mirrorGpgPub: string;
  readonly originCosignPub: string;
  readonly mirrorCosignPub: string;
  /** The mirror's encrypted cosign private key and its passphrase file. */
  readonly mirrorCosignKey: string;
  readonly passphraseFile: string;
  readonly originCosignKey: KeyObject;
  /** registries.d: lookasides of both registries, sigstore attachments on. */
  readonly registriesD: string;
  readonly originLookaside: string;
  readonly mirrorLookaside: string;
  /** Environment for the CLI and skopeo (GnuPG home, HOME inside the work folder). */
  readonly env: Record<string, string>;
  /** Pushes a fresh image to the origin, GPG-signed by skopeo for `repo:tag` on the origin. */
  pushGpgSigned(repoTag: string, fingerprint?: string): Promise<Digest>;
  /**
   * Pushes a fresh image with a cosign attachment and/or a sigstore bundle referrer by the origin
   * key (and, with `gpg`, GPG-signed too).
   */
  pushCosignSigned(
    repoTag: string,
    how?: { attachment?: boolean; bundle?: boolean; gpg?: boolean },
  ): Promise<Digest>;
  pushUnsigned(repoTag: string): Promise<Digest>;
  /**
   * A policy.json document for images under `mirrorPrefix/<repo>` (one per GPG-signed and
   * cosign-signed repository): origin signatures, identities mapped back with remapIdentity.
   */
  remapPolicy(mirrorPrefix: string, repos: { gpg: readonly string[]; cosign: readonly string[] }): object;
  /** `sync` arguments: plain HTTP both ends, this registries.d, yaml source to docker `dest`. */
  syncArgs(extra: readonly string[], yaml: string, dest: string): string[];
  stop(): Promise<void>;
}

export async function startMirrorFixture(
  mirrorOptions: RegistryOptions = {},
  originOptions: RegistryOptions = {},
): Promise<MirrorFixture> {
  const work = await mkdtemp(join(tmpdir(), 'portcullis-mirror-'));
  const [origin, mirror, gpg] = await Promise.all([
    startRegistry(originOptions),
    startRegistry(mirrorOptions),
    gnupgHome(),
  ]);
  const originFpr = await gpg.generate('Origin <origin@example.com>', 'ed25519');
  const mirrorFpr = await gpg.generate('Mirror <mirror@example.com>', 'ed25519');
  const originGpgPub = join(work, 'origin.gpg');
  const mirrorGpgPub = join(work, 'mirror.gpg');
  await writeFile(originGpgPub, await gpg.exportPublic(originFpr));
  await writeFile(mirrorGpgPub, await gpg.exportPublic(mirrorFpr));
  const originKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const originCosignPub = join(work, 'origin-cosign.pub');
  await writeFile(originCosignPub, originKeys.publicKey.export({ format: 'pem', type: 'spki' }).toString());
  const passphraseFile = join(work, 'passphrase');
  await writeFile(passphraseFile, 'mirror secret\n');
  const mirrorPair = await generateSigstoreKeyPair(Buffer.from('mirror secret'));
  const mirrorCosignKey = join(work, 'mirror-cosign.private');
  const mirrorCosignPub = join(work, 'mirror-cosign.pub');
  await writeFile(mirrorCosignKey, mirrorPair.privateKeyPem, { mode: 0o600 });
  await writeFile(mirrorCosignPub, mirrorPair.publicKeyPem);
  const originLookaside = join(work, 'origin-sigs');
  const mirrorLookaside = join(work, 'mirror-sigs');
  const registriesD = join(work, 'registries.d');
  await mkdir(registriesD);
  const section = (host: string, dir: string) =>
    `  ${host}:\n    lookaside: file://${dir}\n    lookaside-staging: file://${dir}\n    use-sigstore-attachments: true\n`;
  await writeFile(
    join(registriesD, 'mirror.yaml'),
    `docker:\n${section(origin.host, originLookaside)}${section(mirror.host, mirrorLookaside)}`,
  );
  const home = join(work, 'home');
  await mkdir(home);
  const env = { ...gpg.env, HOME: home };

  let n = 0;
  const pushUnsigned = async (repoTag: string, signBy?: string): Promise<Digest> => {
    const image = syntheticImage({ labels: { image: repoTag, n: String(n++) } });
    const layout = join(work, `layout-${n}`);
    await writeOciLayout(layout, image, 'v');
    await run(
      'skopeo',
      [
        '--insecure-policy',
        '--registries.d',
        registriesD,
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        ...(signBy !== undefined ? ['--sign-by', signBy] : []),
        `oci:${layout}:v`,
        `docker://${origin.host}/${repoTag}`,
      ],
      { env },
    );
    await rm(layout, { recursive: true, force: true });
    return image.manifestDigest;
  };

  return {
    work,
    origin,
    mirror,
    gpg,
    originFpr,
    mirrorFpr,
    originGpgPub,
    mirrorGpgPub,
    originCosignPub,
    mirrorCosignPub,
    mirrorCosignKey,
    passphraseFile,
    originCosignKey: originKeys.privateKey,
    registriesD,
    originLookaside,
    mirrorLookaside,
    env,
    pushGpgSigned: (repoTag, fingerprint = originFpr) => pushUnsigned(repoTag, fingerprint),
    async pushCosignSigned(repoTag, how = { attachment: true }) {
      const digest = await pushUnsigned(repoTag, how.gpg ? originFpr : undefined);
      const repo = repoTag.slice(0, repoTag.lastIndexOf(':'));
      const client = new RegistryClient(origin.url, repo);
      const name = `${origin.host}/${repoTag}`;
      if (how.attachment)
        await client.pushAttachment(
          digest,
          signedAttachment(originKeys.privateKey, buildSigstorePayload(digest, name, null)),
        );
      if (how.bundle)
        await client.pushReferrer(digest, keyBundle(originKeys.privateKey, digest, name), BUNDLE_TYPE);
      return digest;
    },
    pushUnsigned: (repoTag) => pushUnsigned(repoTag),
    remapPolicy(mirrorPrefix, repos) {
      const signedIdentity = {
        type: 'remapIdentity',
        prefix: mirrorPrefix,
        signedPrefix: `${origin.host}/team`,
      };
      const scopes: Record<string, object[]> = {};
      for (const r of repos.gpg)
        scopes[`${mirrorPrefix}/${r}`] = [
          { type: 'signedBy', keyType: 'GPGKeys', keyPath: originGpgPub, signedIdentity },
        ];
      for (const r of repos.cosign)
        scopes[`${mirrorPrefix}/${r}`] = [
          { type: 'sigstoreSigned', keyPath: originCosignPub, signedIdentity },
        ];
      return { default: [{ type: 'reject' }], transports: { docker: scopes } };
    },
    syncArgs: (extra, yaml, dest) => [
      'sync',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--registries.d',
      registriesD,
      ...extra,
      '--src',
      'yaml',
      '--dest',
      'docker',
      yaml,
      dest,
    ],
    async stop() {
      await Promise.all([origin.stop(), mirror.stop(), gpg.remove()]);
      await rm(work, { recursive: true, force: true });
    },
  };
}
