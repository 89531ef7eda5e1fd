// Sigstore bundles attached as OCI 1.1 referrers, shared by the `policy eval` and webhook tests.
import type { Digest } from '../../src/image/digest.ts';
import {
  generateSigstoreKeyPair,
  loadSigstoreSigner,
  type SigstoreSigner,
} from '../../src/image/signature/sigstore/index.ts';
import { RegistryClient } from '../image/signature/sigstore/oci.ts';
import type { TestRegistry } from './registry.ts';

/** A sigstore trusted_root.json of our own: no public-good CAs or logs, so nothing is dialled. */
export const OFFLINE_TRUSTED_ROOT = JSON.stringify({
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
});

export async function newSigstoreSigner(
  passphrase: Uint8Array,
): Promise<{ signer: SigstoreSigner; privateKeyPem: string }> {
  const pair = await generateSigstoreKeyPair(passphrase);
  return {
    signer: await loadSigstoreSigner(pair.privateKeyPem, passphrase),
    privateKeyPem: pair.privateKeyPem,
  };
}

/** The repository namespace under which bundlePolicyJson accepts signatures that bind only the digest. */
export const DIGEST_ONLY_NAMESPACE = 'digest-only';

/**
 * policy.json: images of `host` need a sigstore signature by `trusted`, verified offline, that
 * names them (the default matchRepoDigestOrExact); under `host/digest-only` a signature that binds
 * only the digest (a bundle) is enough.
 */
export function bundlePolicyJson(host: string, trusted: SigstoreSigner): string {
  const requirement = {
    type: 'sigstoreSigned',
    keyData: Buffer.from(trusted.publicKeyPem).toString('base64'),
    trustedRootData: Buffer.from(OFFLINE_TRUSTED_ROOT).toString('base64'),
  };
  return JSON.stringify({
    default: [{ type: 'reject' }],
    transports: {
      docker: {
        [host]: [requirement],
        [`${host}/${DIGEST_ONLY_NAMESPACE}`]: [{ ...requirement, acceptDigestOnlySignatures: true }],
      },
    },
  });
}

/** Pushes `repo:v1` with one bundle referrer by `signer` (over `signedDigest`, default the image's). */
export async function pushImageWithBundle(
  registry: TestRegistry,
  repo: string,
  signer: SigstoreSigner,
  signedDigest?: Digest,
): Promise<{ client: RegistryClient; digest: Digest }> {
  const client = new RegistryClient(registry.url, repo);
  const digest = await client.pushImage('v1');
  const { artifactType, bundle } = signer.signBundle(signedDigest ?? digest, `${registry.host}/${repo}`);
  await client.pushReferrer(digest, bundle, artifactType);
  return { client, digest };
}
