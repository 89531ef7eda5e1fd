// signedIdentity semantics (upstream policy_reference_match.go): does the docker reference a
// signature claims satisfy the policy, given the reference the image is known by?
import { type DockerReference, parseNamed, parseNormalizedNamed } from '../reference/index.ts';
import type { SignedIdentity } from './policy-types.ts';

function parseOrUndefined(s: string): DockerReference | undefined {
  try {
    return parseNormalizedNamed(s);
  } catch {
    return undefined;
  }
}

function matchRepoDigestOrExact(intended: DockerReference, signature: DockerReference): boolean {
  if (signature.isNameOnly()) return false;
  if (intended.tag !== undefined) return signature.toString() === intended.toString();
  if (intended.digest !== undefined) return signature.name() === intended.name();
  return false;
}

function exactMatch(intended: DockerReference, signature: DockerReference): boolean {
  if (intended.isNameOnly() || signature.isNameOnly()) return false;
  return signature.toString() === intended.toString();
}

/** True when the reference's name is `prefix` or lies under it (`prefix/...`). */
export function refMatchesPrefix(ref: DockerReference, prefix: string): boolean {
  const name = ref.name();
  return name === prefix || (name.startsWith(prefix) && name[prefix.length] === '/');
}

/** Upstream remapReferencePrefix; undefined when the rewritten reference is not canonical. */
export function remapReference(
  ref: DockerReference,
  prefix: string,
  signedPrefix: string,
): DockerReference | undefined {
  if (!refMatchesPrefix(ref, prefix)) return ref;
  const s = ref.toString();
  try {
    return parseNamed(s.replace(prefix, signedPrefix));
  } catch {
    return undefined;
  }
}

/**
 * True when `signatureReference` (the signature's `docker-reference`, untrusted text) is accepted
 * by `identity` for an image known as `image` (undefined: the image has no docker reference,
 * which no image-relative rule accepts).
 */
export function identityMatches(
  identity: SignedIdentity,
  image: DockerReference | undefined,
  signatureReference: string,
): boolean {
  const signature = parseOrUndefined(signatureReference);
  if (signature === undefined) return false;
  switch (identity.type) {
    case 'matchExact':
      return image !== undefined && exactMatch(image, signature);
    case 'matchRepoDigestOrExact':
      return image !== undefined && matchRepoDigestOrExact(image, signature);
    case 'matchRepository':
      return image !== undefined && signature.name() === image.name();
    case 'exactReference': {
      const intended = parseOrUndefined(identity.dockerReference);
      return intended !== undefined && exactMatch(intended, signature);
    }
    case 'exactRepository': {
      const intended = parseOrUndefined(identity.dockerRepository);
      return intended !== undefined && signature.name() === intended.name();
    }
    case 'remapIdentity': {
      if (image === undefined) return false;
      const intended = remapReference(image, identity.prefix, identity.signedPrefix);
      return intended !== undefined && matchRepoDigestOrExact(intended, signature);
    }
    default:
      return false;
  }
}
