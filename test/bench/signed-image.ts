// The benchmarks' policy-checked image: a small image on a loopback registry, signed by skopeo
// with a gpg key, its signature in a file: lookaside that a registries.d file points at.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { digestHex } from '../../src/image/index.ts';
import type { DockerTestEnv } from '../helpers/docker-env.ts';
import { putImage } from '../helpers/docker-env.ts';
import type { TestRegistry } from '../helpers/registry.ts';
import { syntheticImage } from '../helpers/synthetic-image.ts';
import type { GnupgHome } from '../image/signature/gnupg.ts';

const run = promisify(execFile);

export interface SignedImage {
  /** `docker://host/bench/app:v1` */
  readonly name: string;
  readonly registriesD: string;
  /** The public key file the policy trusts, and the signature (the lookaside's signature-1) */
  readonly keyFile: string;
  readonly signatureFile: string;
  /** policy.json with one signedBy requirement for `keyFile` */
  readonly policy: string;
  /** `portcullis policy eval` arguments checking the image against the policy */
  readonly policyEvalArgs: readonly string[];
  /** `skopeo` arguments copying the image to `dir:out` under the same policy */
  skopeoCopyArgs(out: string): string[];
  /** The environment both tools run in: the gpg home, an empty HOME, the registries.conf */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Pushes and signs the image; writes its lookaside, registries.d and policy under `work`. */
export async function signedImage(
  work: string,
  registry: TestRegistry,
  env: DockerTestEnv,
  home: GnupgHome,
  fingerprint: string,
  keyFile: string,
): Promise<SignedImage> {
  const image = syntheticImage({ layers: 1, layerBytes: 1024 });
  const dest = await env.transport
    .parseReference(`//${registry.host}/bench/app:v1`)
    .newImageDestination({ ...env.ctx, tlsVerify: false });
  await putImage(dest, image);
  await dest.close();
  const sigDir = join(work, 'lookaside', `bench/app@sha256=${digestHex(image.manifestDigest)}`);
  await mkdir(sigDir, { recursive: true });
  const manifest = join(work, 'app-manifest.json');
  await writeFile(manifest, image.manifest);
  await run(
    'skopeo',
    [
      'standalone-sign',
      manifest,
      `${registry.host}/bench/app:v1`,
      fingerprint,
      '-o',
      join(sigDir, 'signature-1'),
    ],
    { env: home.env },
  );
  const registriesD = join(work, 'registries.d');
  await mkdir(registriesD);
  await writeFile(
    join(registriesD, 'bench.yaml'),
    `docker:\n  ${registry.host}:\n    lookaside: file://${join(work, 'lookaside')}\n`,
  );
  const policy = join(work, 'policy.json');
  await writeFile(
    policy,
    JSON.stringify({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: keyFile }] }),
  );
  const name = `docker://${registry.host}/bench/app:v1`;
  const policyEvalArgs = [
    'policy',
    'eval',
    '--policy',
    policy,
    '--registries.d',
    registriesD,
    '--registries-conf',
    env.ctx.registriesConfPath!,
    '--tls-verify=false',
    name,
  ];
  return {
    name,
    keyFile,
    signatureFile: join(sigDir, 'signature-1'),
    registriesD,
    policy,
    policyEvalArgs,
    skopeoCopyArgs: (out) => [
      '--policy',
      policy,
      '--registries.d',
      registriesD,
      'copy',
      '--src-tls-verify=false',
      name,
      `dir:${out}`,
    ],
    env: { ...home.env, HOME: env.dir, CONTAINERS_REGISTRIES_CONF: env.ctx.registriesConfPath! },
  };
}
