// signedIdentity (upstream policy_reference_match.go and policy_config.go): its strict parse, and
// whether the docker reference a signature claims satisfies it, given the reference the image is
// known by.
import { unhandled } from '../errors.ts';
import {
  anchoredNameRegexp,
  type DockerReference,
  domainRegexp,
  parseNamed,
  parseNormalizedNamed,
} from '../reference/index.ts';
import { asString, invalidValue, type JsonNode, ObjectReader, readType } from './json.ts';
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
      return unhandled(identity, false);
  }
}

/** The `type`s a policy reference match (signedIdentity, baseLayerIdentity) may have. */
export const identityTypes: readonly string[] = [
  'matchExact',
  'matchRepoDigestOrExact',
  'matchRepository',
  'exactReference',
  'exactRepository',
  'remapIdentity',
];

const domainPrefix = new RegExp(`^${domainRegexp.source.slice(1, -1)}/`);

/** Upstream validateIdentityRemappingPrefix: a bare domain, or a name that starts with a domain. */
function validRemapPrefix(s: string): boolean {
  return domainRegexp.test(s) || (anchoredNameRegexp.test(s) && domainPrefix.test(s));
}

export function parseSignedIdentity(node: JsonNode): SignedIdentity {
  const obj = new ObjectReader(node, 'a signedIdentity object');
  const type = readType(obj, identityTypes, 'policy reference match');
  switch (type) {
    case 'matchExact':
    case 'matchRepoDigestOrExact':
    case 'matchRepository':
      obj.finish(['type']);
      return { type };
    case 'exactReference': {
      const refNode = obj.required('dockerReference');
      obj.finish(['type', 'dockerReference']);
      const dockerReference = asString(refNode);
      let isNameOnly: boolean;
      try {
        isNameOnly = parseNormalizedNamed(dockerReference).isNameOnly();
      } catch (err) {
        throw invalidValue(
          refNode,
          `invalid format of dockerReference ${JSON.stringify(dockerReference)}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      if (isNameOnly) {
        throw invalidValue(
          refNode,
          `dockerReference ${JSON.stringify(dockerReference)} contains neither a tag nor digest`,
        );
      }
      return { type, dockerReference };
    }
    case 'exactRepository': {
      const repoNode = obj.required('dockerRepository');
      obj.finish(['type', 'dockerRepository']);
      const dockerRepository = asString(repoNode);
      try {
        parseNormalizedNamed(dockerRepository);
      } catch (err) {
        throw invalidValue(
          repoNode,
          `invalid format of dockerRepository ${JSON.stringify(dockerRepository)}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      return { type, dockerRepository };
    }
    case 'remapIdentity': {
      const prefixNode = obj.required('prefix');
      const signedPrefixNode = obj.required('signedPrefix');
      obj.finish(['type', 'prefix', 'signedPrefix']);
      const prefix = asString(prefixNode);
      const signedPrefix = asString(signedPrefixNode);
      if (!validRemapPrefix(prefix))
        throw invalidValue(prefixNode, `prefix ${JSON.stringify(prefix)} is not valid`);
      if (!validRemapPrefix(signedPrefix)) {
        throw invalidValue(signedPrefixNode, `prefix ${JSON.stringify(signedPrefix)} is not valid`);
      }
      return { type, prefix, signedPrefix };
    }
    default:
      throw invalidValue(node, `unknown policy reference match type ${JSON.stringify(type)}`);
  }
}
