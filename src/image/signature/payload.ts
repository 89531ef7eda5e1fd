// The signed payload shared by simple signing ("atomic container signature") and cosign
// ("cosign container image signature"): containers-signature(5). Parsed strictly, as upstream's
// strictUnmarshalJSON: exact `critical`, ignored unknown `optional` members. Stricter than
// upstream: duplicate keys are rejected inside ignored `optional` values too.
import { type Digest, parseDigest } from '../digest.ts';
import { SignatureError } from './errors.ts';
import { asInteger, asString, invalidValue, JsonError, ObjectReader, parseJson } from './json.ts';

export const SIMPLE_SIGNING_TYPE = 'atomic container signature';
export const SIGSTORE_PAYLOAD_TYPE = 'cosign container image signature';
export type PayloadType = typeof SIMPLE_SIGNING_TYPE | typeof SIGSTORE_PAYLOAD_TYPE;

/** Payloads are small; anything larger is hostile. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/** Contents of a payload whose signature may not have been verified yet: trust nothing here. */
export interface UntrustedPayload {
  readonly dockerManifestDigest: Digest;
  /** As written in the payload; validated only when matched against a policy. */
  readonly dockerReference: string;
  readonly creator: string | undefined;
  readonly timestamp: number | undefined;
}

/**
 * Parses a payload of the given type. Errors are SignatureError SIGNATURE_INVALID whose cause is
 * the JsonError with the location. Sigstore payloads may carry `"optional": null` (cosign does).
 */
export function parsePayload(bytes: Uint8Array, type: PayloadType): UntrustedPayload {
  try {
    return parsePayloadJson(bytes, type);
  } catch (err) {
    if (err instanceof JsonError) {
      throw new SignatureError('SIGNATURE_INVALID', `invalid signature payload: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  }
}

function parsePayloadJson(bytes: Uint8Array, type: PayloadType): UntrustedPayload {
  const root = new ObjectReader(
    parseJson(bytes, { maxBytes: MAX_PAYLOAD_BYTES, maxDepth: 16 }),
    'a signature payload object',
  );
  const criticalNode = root.required('critical');
  const optionalNode = root.required('optional');
  root.finish(['critical', 'optional']);

  let creator: string | undefined;
  let timestamp: number | undefined;
  if (!(type === SIGSTORE_PAYLOAD_TYPE && optionalNode.kind === 'null')) {
    const optional = new ObjectReader(optionalNode, 'an "optional" object');
    const c = optional.take('creator');
    const t = optional.take('timestamp');
    optional.ignoreRest();
    if (c !== undefined) creator = asString(c);
    if (t !== undefined) timestamp = asInteger(t);
  }

  const critical = new ObjectReader(criticalNode, 'a "critical" object');
  const typeNode = critical.required('type');
  const imageNode = critical.required('image');
  const identityNode = critical.required('identity');
  critical.finish(['type', 'image', 'identity']);
  const actualType = asString(typeNode);
  if (actualType !== type)
    throw invalidValue(typeNode, `unrecognized signature type ${actualType}, expected ${type}`);

  const image = new ObjectReader(imageNode, 'an "image" object');
  const digestNode = image.required('docker-manifest-digest');
  image.finish(['docker-manifest-digest']);
  const digestString = asString(digestNode);
  let dockerManifestDigest: Digest;
  try {
    dockerManifestDigest = parseDigest(digestString);
  } catch (err) {
    throw invalidValue(
      digestNode,
      `invalid docker-manifest-digest value ${JSON.stringify(digestString)}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }

  const identity = new ObjectReader(identityNode, 'an "identity" object');
  const refNode = identity.required('docker-reference');
  identity.finish(['docker-reference']);
  return { dockerManifestDigest, dockerReference: asString(refNode), creator, timestamp };
}

/**
 * The payload bytes upstream's Go code produces: members sorted by key, no whitespace (what
 * json.Marshal makes of its maps), so our signatures are byte-compatible with skopeo's.
 */
export function serializePayload(p: {
  readonly dockerManifestDigest: Digest;
  readonly dockerReference: string;
  readonly type: PayloadType;
  readonly creator?: string;
  readonly timestamp?: number;
}): Uint8Array {
  if (p.dockerReference === '')
    throw new SignatureError('SIGNING_FAILED', 'unexpected empty signature content');
  const optional: Record<string, string | number> = {};
  if (p.creator !== undefined) optional.creator = p.creator;
  if (p.timestamp !== undefined) optional.timestamp = p.timestamp;
  const doc = {
    critical: {
      identity: { 'docker-reference': p.dockerReference },
      image: { 'docker-manifest-digest': p.dockerManifestDigest },
      type: p.type,
    },
    optional,
  };
  // Go escapes <, >, & and U+2028/9 in strings; do the same so bytes match.
  const text = JSON.stringify(doc).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return new TextEncoder().encode(text);
}
