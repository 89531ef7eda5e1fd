// Images signed with the real cosign (v3.1.3 and v2.4.1, built into .cache/tools by
// scripts/build-tools.sh) in every way an image reaches a cluster signed or not: one image per
// case, offline with a key (no transparency log, no signing config), against a loopback
// Distribution registry (no referrers API: the `sha256-<hex>` tag schema). Shared by the
// `policy eval` interop tests and the webhook e2e tests.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Digest } from '../../src/image/digest.ts';
import { generateSigstoreKeyPair } from '../../src/image/signature/sigstore/index.ts';
import { runCli } from './cli.ts';
import { pushWithFetch, syntheticImage } from './synthetic-image.ts';

const run = promisify(execFile);
export const COSIGN_V2 = fileURLToPath(new URL('../../.cache/tools/cosign', import.meta.url));
export const COSIGN_V3 = fileURLToPath(new URL('../../.cache/tools/cosign-v3', import.meta.url));

/** A skip note when a cosign binary is absent (scripts/build-tools.sh builds both), else false. */
export function cosignMissing(): string | false {
  const absent = [COSIGN_V2, COSIGN_V3].filter((bin) => !existsSync(bin));
  return absent.length === 0
    ? false
    : `cosign not built at ${absent.join(', ')} (run scripts/build-tools.sh)`;
}

/** Each `cosign attest --type` and the predicate type it writes. */
export const ATTESTATION_TYPES: readonly (readonly [type: string, predicateType: string])[] = [
  ['slsaprovenance', 'https://slsa.dev/provenance/v0.2'],
  ['slsaprovenance02', 'https://slsa.dev/provenance/v0.2'],
  ['slsaprovenance1', 'https://slsa.dev/provenance/v1'],
  ['link', 'https://in-toto.io/Link/v1'],
  ['spdx', 'https://spdx.dev/Document'],
  ['spdxjson', 'https://spdx.dev/Document'],
  ['cyclonedx', 'https://cyclonedx.org/bom'],
  ['vuln', 'https://cosign.sigstore.dev/attestation/vuln/v1'],
  ['openvex', 'https://openvex.dev/ns'],
  ['custom', 'https://cosign.sigstore.dev/attestation/v1'],
  ['https://example.com/scan/v1', 'https://example.com/scan/v1'],
];

export type CosignCaseKind =
  | 'unsigned'
  | 'v3 bundle'
  | 'v3 legacy .sig'
  | 'v2 .sig'
  | 'v2 oci-1-1 referrer'
  | 'attestation only'
  | 'v3 bundle by another key'
  | 'v3 bundle copied to another repository'
  | 'v3 legacy .sig copied to another repository';

export interface CosignCaseSpec {
  readonly kind: CosignCaseKind;
  /** The repository under the namespace (for copies: where the copy lands). */
  readonly repo: string;
  /** For attestations: `cosign attest --type` and the predicate type it writes. */
  readonly attest?: readonly [type: string, predicateType: string];
  /** For copies: the repository signed, then copied with its signature to `repo`. */
  readonly copiedFrom?: string;
}

/** Every case, in the order makeCosignCases makes them. */
export const COSIGN_CASES: readonly CosignCaseSpec[] = [
  { kind: 'unsigned', repo: 'unsigned' },
  { kind: 'v3 bundle', repo: 'v3-bundle' },
  { kind: 'v3 legacy .sig', repo: 'v3-legacy' },
  { kind: 'v2 .sig', repo: 'v2-sig' },
  { kind: 'v2 oci-1-1 referrer', repo: 'v2-referrer' },
  ...ATTESTATION_TYPES.map((attest, i) => ({
    kind: 'attestation only' as const,
    repo: `attested-${i}`,
    attest,
  })),
  { kind: 'v3 bundle by another key', repo: 'other-key' },
  { kind: 'v3 bundle copied to another repository', repo: 'prod/app', copiedFrom: 'dev/app' },
  { kind: 'v3 legacy .sig copied to another repository', repo: 'prod/legacy', copiedFrom: 'dev/legacy' },
];

export interface CosignCase extends CosignCaseSpec {
  /** `host/namespace/repo:v1`, as a pod names it. */
  readonly image: string;
  /** `host/namespace/repo` */
  readonly name: string;
  readonly digest: Digest;
}

export interface CosignKeys {
  readonly dir: string;
  /** The trusted public key, PEM. */
  readonly publicKeyPem: string;
}

const PASSPHRASE = 'cosign variants';
const REGISTRY_FLAGS = ['--allow-insecure-registry', '--allow-http-registry'];
const OFFLINE_V3 = ['--tlog-upload=false', '--use-signing-config=false'];

/**
 * Pushes one fresh image per case of COSIGN_CASES to `registry` under `host/namespace/` and signs
 * it as the case says, with a trusted key (its public half in the result) or another one.
 */
export async function makeCosignCases(
  registry: { readonly host: string; readonly url: string },
  namespace: string,
  work: string,
): Promise<{ keys: CosignKeys; cases: CosignCase[] }> {
  const dir = join(work, 'cosign-keys');
  await mkdir(join(dir, 'registries.d'), { recursive: true });
  const passphrase = new TextEncoder().encode(PASSPHRASE);
  const [trusted, other] = await Promise.all([
    generateSigstoreKeyPair(passphrase),
    generateSigstoreKeyPair(passphrase),
  ]);
  await writeFile(join(dir, 'trusted.key'), trusted.privateKeyPem);
  await writeFile(join(dir, 'other.key'), other.privateKeyPem);
  await writeFile(join(dir, 'predicate.json'), '{}');
  await writeFile(
    join(dir, 'link.json'),
    '{"_type":"link","name":"build","command":[],"materials":{},"products":{},"byproducts":{},"environment":{}}',
  );
  // An empty home: no cosign configuration or credentials of the machine.
  const env = { ...process.env, HOME: dir, COSIGN_PASSWORD: PASSPHRASE, COSIGN_YES: 'true' };
  const cosign = (bin: string, args: string[], extraEnv: Record<string, string> = {}) =>
    run(bin, [...args, ...REGISTRY_FLAGS], { env: { ...env, ...extraEnv } });
  const key = (which: 'trusted' | 'other') => ['--key', join(dir, `${which}.key`)];

  const push = async (repo: string) => {
    const image = syntheticImage({ layers: 1, layerBytes: 256, labels: { repo } });
    await pushWithFetch(registry.url, `${namespace}/${repo}`, 'v1', image);
    const name = `${registry.host}/${namespace}/${repo}`;
    return {
      name,
      image: `${name}:v1`,
      byDigest: `${name}@${image.manifestDigest}`,
      digest: image.manifestDigest,
    };
  };

  /** Signs `ref` as `spec` says (for copies: what is signed before the copy). */
  const sign = (spec: CosignCaseSpec, ref: string): Promise<unknown> => {
    switch (spec.kind) {
      case 'unsigned':
        return Promise.resolve();
      case 'v3 bundle':
      case 'v3 bundle copied to another repository':
        return cosign(COSIGN_V3, ['sign', ...key('trusted'), ...OFFLINE_V3, ref]);
      case 'v3 legacy .sig':
      case 'v3 legacy .sig copied to another repository':
        return cosign(COSIGN_V3, [
          'sign',
          ...key('trusted'),
          ...OFFLINE_V3,
          '--new-bundle-format=false',
          ref,
        ]);
      case 'v2 .sig':
        return cosign(COSIGN_V2, ['sign', ...key('trusted'), '--tlog-upload=false', ref]);
      case 'v2 oci-1-1 referrer':
        return cosign(
          COSIGN_V2,
          ['sign', ...key('trusted'), '--tlog-upload=false', '--registry-referrers-mode=oci-1-1', ref],
          { COSIGN_EXPERIMENTAL: '1' },
        );
      case 'attestation only': {
        const [type] = spec.attest ?? ['custom'];
        const predicate = join(dir, type === 'link' ? 'link.json' : 'predicate.json');
        return cosign(COSIGN_V3, [
          'attest',
          ...key('trusted'),
          ...OFFLINE_V3,
          '--type',
          type,
          '--predicate',
          predicate,
          ref,
        ]);
      }
      case 'v3 bundle by another key':
        return cosign(COSIGN_V3, ['sign', ...key('other'), ...OFFLINE_V3, ref]);
      default:
        throw new Error(`unknown case ${spec.kind}`);
    }
  };

  const cases: CosignCase[] = [];
  for (const spec of COSIGN_CASES) {
    if (spec.copiedFrom === undefined) {
      const pushed = await push(spec.repo);
      await sign(spec, pushed.byDigest);
      cases.push({ ...spec, name: pushed.name, image: pushed.image, digest: pushed.digest });
      continue;
    }
    // The image and its signature placed under another repository (same key, same digest), as
    // anyone who can push there can do: Portcullis's copy carries .sig attachments and referrers.
    const source = await push(spec.copiedFrom);
    await sign(spec, source.byDigest);
    const name = `${registry.host}/${namespace}/${spec.repo}`;
    const r = await runCli(
      [
        'copy',
        '--quiet',
        '--insecure-policy',
        '--registries.d',
        join(dir, 'registries.d'),
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${source.byDigest}`,
        `docker://${name}:v1`,
      ],
      { HOME: dir },
    );
    if (r.code !== 0) throw new Error(`copying ${source.byDigest} to ${name}: ${r.stderr}`);
    cases.push({ ...spec, name, image: `${name}:v1`, digest: source.digest });
  }
  return { keys: { dir, publicKeyPem: trusted.publicKeyPem }, cases };
}

/**
 * policy.json for the cases: images under `host/namespace` need a sigstore signature by the
 * trusted key for their repository (matchRepository, as cosign signs the repository); with
 * `digestOnly`, a signature that binds only the digest is accepted too.
 */
export function cosignPolicyJson(
  host: string,
  namespace: string,
  keys: CosignKeys,
  digestOnly: boolean,
): string {
  return JSON.stringify({
    default: [{ type: 'reject' }],
    transports: {
      docker: {
        [`${host}/${namespace}`]: [
          {
            type: 'sigstoreSigned',
            keyData: Buffer.from(keys.publicKeyPem).toString('base64'),
            signedIdentity: { type: 'matchRepository' },
            ...(digestOnly ? { acceptDigestOnlySignatures: true } : {}),
          },
        ],
      },
    },
  });
}
