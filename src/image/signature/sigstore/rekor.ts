// The Rekor "signed entry timestamp" cosign stores in the dev.sigstore.cosign/bundle annotation,
// verified offline as containers/image's VerifyRekorSET does.
import { createHash } from 'node:crypto';
import { SigstoreError } from './errors.ts';
import {
  canonicalJson,
  decodeStdBase64,
  expectExactKeys,
  isJsonObject,
  type JsonObject,
  type JsonValue,
  parseStrictJson,
} from './json.ts';
import { type PublicKey, verifyWithKey } from './keys.ts';

const MAX_SET_BYTES = 64 << 10;

function malformed(detail: string, cause?: unknown): SigstoreError {
  return new SigstoreError('SIGSTORE_SET_MALFORMED', `parsing rekor set: ${detail}`, { cause });
}

function mismatch(detail: string): SigstoreError {
  return new SigstoreError('SIGSTORE_SET_ENTRY_MISMATCH', `rekor set: ${detail}`);
}

function strictBase64(v: JsonValue | undefined, what: string): Buffer {
  const bytes = typeof v === 'string' ? decodeStdBase64(v) : undefined;
  if (bytes === undefined) throw malformed(`${what}: expected base64 text`);
  return bytes;
}

function obj(v: JsonValue | undefined, what: string): JsonObject {
  if (!isJsonObject(v)) throw malformed(`${what}: expected an object`);
  return v;
}

function parseJson(text: string | Uint8Array, what: string): JsonValue {
  try {
    return parseStrictJson(text);
  } catch (err) {
    throw malformed(`${what}: ${err instanceof Error ? err.message : err}`, err);
  }
}

/** The single PEM block of `pem` as DER; anything else is malformed. */
function pemBlockDer(pem: string, what: string): Buffer {
  const blocks = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g)];
  if (blocks.length !== 1) throw malformed(`${what}: expected one pem block, got ${blocks.length}`);
  return Buffer.from(blocks[0]![2]!.replace(/\s+/g, ''), 'base64');
}

export interface VerifiedSet {
  readonly integratedTime: number;
  readonly logIndex: number;
  readonly logId: string;
  /** Which trusted Rekor key signed it. */
  readonly rekorKey: PublicKey;
}

/**
 * Verifies `setText` was signed by one of `rekorKeys` and records a hashedrekord 0.0.1 entry for
 * exactly this signer (`signerDer`: SPKI of the key, or DER of the certificate), `signature` and
 * `payload`. Returns the entry's integrated time (seconds since the epoch).
 */
export function verifyRekorSet(
  rekorKeys: readonly PublicKey[],
  setText: string,
  signerDer: Uint8Array,
  signature: Uint8Array,
  payload: Uint8Array,
): VerifiedSet {
  if (setText.length > MAX_SET_BYTES) throw malformed(`larger than ${MAX_SET_BYTES} bytes`);
  const set = obj(parseJson(setText, 'set'), 'set');
  try {
    expectExactKeys(set, ['SignedEntryTimestamp', 'Payload'], 'set');
  } catch (err) {
    throw malformed(err instanceof Error ? err.message : String(err), err);
  }
  const setSignature = strictBase64(set.SignedEntryTimestamp, 'SignedEntryTimestamp');
  const entry = obj(set.Payload, 'Payload');
  try {
    expectExactKeys(entry, ['body', 'integratedTime', 'logIndex', 'logID'], 'Payload');
  } catch (err) {
    throw malformed(err instanceof Error ? err.message : String(err), err);
  }
  const { integratedTime, logIndex, logID } = entry;
  if (typeof integratedTime !== 'number' || !Number.isSafeInteger(integratedTime)) {
    throw malformed('integratedTime: expected an integer');
  }
  if (typeof logIndex !== 'number' || !Number.isSafeInteger(logIndex))
    throw malformed('logIndex: expected an integer');
  if (typeof logID !== 'string') throw malformed('logID: expected a string');

  // ECDSA with SHA-256 over the RFC 8785 canonical form of Payload.
  const signed = Buffer.from(canonicalJson(entry), 'utf8');
  const rekorKey = rekorKeys.find((k) => verifyWithKey(k.key, signed, setSignature));
  if (rekorKey === undefined) {
    throw new SigstoreError(
      'SIGSTORE_SET_SIGNATURE_INVALID',
      `rekor set: signature not valid for any of ${rekorKeys.length} trusted rekor keys`,
    );
  }

  const body = obj(parseJson(strictBase64(entry.body, 'body'), 'body'), 'body');
  if (body.kind !== 'hashedrekord')
    throw mismatch(`expected entry kind "hashedrekord", got ${JSON.stringify(body.kind)}`);
  if (body.apiVersion !== '0.0.1') {
    throw mismatch(`expected hashedrekord apiVersion "0.0.1", got ${JSON.stringify(body.apiVersion)}`);
  }
  const spec = obj(body.spec, 'body.spec');
  const sig = obj(spec.signature, 'body.spec.signature');
  const recordedSignature = strictBase64(sig.content, 'body.spec.signature.content');
  const publicKey = obj(sig.publicKey, 'body.spec.signature.publicKey');
  const recordedPem = strictBase64(publicKey.content, 'body.spec.signature.publicKey.content').toString(
    'utf8',
  );
  const hash = obj(obj(spec.data, 'body.spec.data').hash, 'body.spec.data.hash');

  if (!pemBlockDer(recordedPem, 'body.spec.signature.publicKey.content').equals(signerDer)) {
    throw mismatch('entry records a different public key or certificate');
  }
  if (!recordedSignature.equals(signature)) throw mismatch('entry records a different signature');
  if (hash.algorithm !== 'sha256') {
    throw mismatch(`expected hash algorithm "sha256", got ${JSON.stringify(hash.algorithm)}`);
  }
  const payloadHash = createHash('sha256').update(payload).digest('hex');
  if (hash.value !== payloadHash) throw mismatch('entry records the hash of a different payload');
  return { integratedTime, logIndex, logId: logID, rekorKey };
}
