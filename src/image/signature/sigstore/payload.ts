// The cosign simple-signing payload ("cosign container image signature"), parsed as strictly as
// containers/image's sigstore_payload.go: exact keys in `critical`, `optional` an object or null.
import { type Digest, parseDigest } from '../../digest.ts';
import { SigstoreError } from './errors.ts';
import { expectExactKeys, isJsonObject, type JsonObject, type JsonValue, parseStrictJson } from './json.ts';

export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';

export interface SigstorePayload {
  readonly dockerManifestDigest: Digest;
  readonly dockerReference: string;
  readonly creator?: string;
  readonly timestamp?: number;
}

function invalid(detail: string, cause?: unknown): SigstoreError {
  return new SigstoreError('SIGSTORE_PAYLOAD_INVALID', `parsing sigstore payload: ${detail}`, { cause });
}

function objectField(obj: JsonObject, key: string): JsonObject {
  const v = obj[key];
  if (!isJsonObject(v)) throw invalid(`expected ${key} to be an object`);
  return v;
}

function stringField(obj: JsonObject, key: string): string {
  const v = obj[key];
  if (typeof v !== 'string') throw invalid(`expected ${key} to be a string`);
  return v;
}

function parseOptional(v: JsonValue): Pick<SigstorePayload, 'creator' | 'timestamp'> {
  if (v === null) return {};
  if (!isJsonObject(v)) throw invalid('expected optional to be an object or null');
  const out: { creator?: string; timestamp?: number } = {};
  // Unknown optional members are ignored, as upstream does.
  if (Object.hasOwn(v, 'creator')) out.creator = stringField(v, 'creator');
  if (Object.hasOwn(v, 'timestamp')) {
    const t = v.timestamp;
    if (typeof t !== 'number' || !Number.isSafeInteger(t))
      throw invalid('expected timestamp to be an integer');
    out.timestamp = t;
  }
  return out;
}

/** Parses untrusted payload bytes; call only after the signature over them was verified. */
export function parseSigstorePayload(bytes: Uint8Array): SigstorePayload {
  let doc: JsonValue;
  try {
    doc = parseStrictJson(bytes);
  } catch (err) {
    throw invalid(err instanceof Error ? err.message : 'invalid json', err);
  }
  try {
    if (!isJsonObject(doc)) throw invalid('expected a json object');
    expectExactKeys(doc, ['critical', 'optional'], 'parsing sigstore payload');
    const critical = objectField(doc, 'critical');
    expectExactKeys(critical, ['type', 'image', 'identity'], 'parsing sigstore payload critical');
    const type = stringField(critical, 'type');
    if (type !== COSIGN_SIGNATURE_TYPE) {
      throw invalid(`unrecognized signature type ${JSON.stringify(type)}`);
    }
    const image = objectField(critical, 'image');
    expectExactKeys(image, ['docker-manifest-digest'], 'parsing sigstore payload image');
    const digestText = stringField(image, 'docker-manifest-digest');
    let dockerManifestDigest: Digest;
    try {
      dockerManifestDigest = parseDigest(digestText);
    } catch (err) {
      throw invalid(`invalid docker-manifest-digest ${JSON.stringify(digestText)}`, err);
    }
    const identity = objectField(critical, 'identity');
    expectExactKeys(identity, ['docker-reference'], 'parsing sigstore payload identity');
    const dockerReference = stringField(identity, 'docker-reference');
    return { dockerManifestDigest, dockerReference, ...parseOptional(doc.optional ?? null) };
  } catch (err) {
    if (err instanceof SigstoreError && err.code === 'SIGSTORE_JSON_INVALID') throw invalid(err.message, err);
    throw err;
  }
}

/**
 * The payload containers/image writes when signing on copy (Go marshals with sorted keys and no
 * whitespace; cosign itself writes `"optional":null`).
 */
export function buildSigstorePayload(
  manifestDigest: Digest,
  dockerReference: string,
  optional: { creator: string; timestamp: number } | null,
): Uint8Array {
  const doc = {
    critical: {
      identity: { 'docker-reference': dockerReference },
      image: { 'docker-manifest-digest': manifestDigest },
      type: COSIGN_SIGNATURE_TYPE,
    },
    optional,
  };
  return new TextEncoder().encode(JSON.stringify(doc));
}
