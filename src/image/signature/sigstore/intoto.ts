// DSSE envelopes and in-toto statements (what cosign attestations and sigstore bundles carry),
// parsed with bounds on size and nesting before JSON.parse sees them. Statements can hold whole
// SBOMs, so this parser is JSON.parse behind a linear nesting scan (the strict parser of ../json.ts
// builds a located node tree: ~12x slower on a 6 MB SBOM). Duplicate keys keep the last value, as
// Go's encoding/json (cosign, in-toto-golang) does.
import { SigstoreError } from './errors.ts';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_TYPES: readonly string[] = [
  'https://in-toto.io/Statement/v0.1',
  'https://in-toto.io/Statement/v1',
];
/** The media type of cosign's `.att` layers: one DSSE envelope each. */
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
/** Nesting allowed in a statement: SPDX and CycloneDX documents stay under 12 levels. */
export const MAX_STATEMENT_DEPTH = 64;

export interface DsseEnvelope {
  readonly payloadType: string;
  readonly payload: Buffer;
  readonly signatures: readonly { readonly keyid: string; readonly sig: Buffer }[];
}

export interface InTotoSubject {
  readonly name: string;
  readonly digest: Readonly<Record<string, string>>;
}

export interface InTotoStatement {
  readonly type: string;
  readonly subject: readonly InTotoSubject[];
  readonly predicateType: string;
  /** Parsed JSON (plain objects and arrays); null when the statement has none. */
  readonly predicate: unknown;
}

export interface JsonBounds {
  readonly maxBytes: number;
  readonly maxDepth: number;
}

/** The DSSE pre-authentication encoding: what a DSSE signature signs. */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

/** Throws SIGSTORE_STATEMENT_TOO_DEEP when arrays and objects nest deeper than `maxDepth`. */
function checkNesting(text: string, maxDepth: number, what: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) {
        throw new SigstoreError(
          'SIGSTORE_STATEMENT_TOO_DEEP',
          `${what}: nesting deeper than ${maxDepth} levels at byte ${i}`,
        );
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}

/** One JSON document of at most `bounds.maxBytes` bytes nested at most `bounds.maxDepth` deep. */
export function parseBoundedJson(bytes: Uint8Array, bounds: JsonBounds, what: string): unknown {
  if (bytes.length > bounds.maxBytes) {
    throw new SigstoreError(
      'SIGSTORE_STATEMENT_TOO_LARGE',
      `${what}: ${bytes.length} bytes, more than the ${bounds.maxBytes} allowed`,
    );
  }
  const text = Buffer.from(bytes).toString('utf8');
  checkNesting(text, bounds.maxDepth, what);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SigstoreError('SIGSTORE_JSON_INVALID', `${what}: invalid json: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function strictBase64(v: unknown, what: string): Buffer {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
    // URL-safe base64 is allowed by the DSSE spec; cosign writes standard base64.
    if (typeof v === 'string' && /^[A-Za-z0-9_-]*={0,2}$/.test(v)) return Buffer.from(v, 'base64url');
    throw new SigstoreError('SIGSTORE_ENVELOPE_INVALID', `dsse envelope: ${what}: expected base64 text`);
  }
  return Buffer.from(v, 'base64');
}

/** A DSSE envelope (JSON) of at most `maxBytes`. */
export function parseDsseEnvelope(bytes: Uint8Array, maxBytes: number): DsseEnvelope {
  const doc = parseBoundedJson(bytes, { maxBytes, maxDepth: 8 }, 'dsse envelope');
  if (!isRecord(doc) || typeof doc.payloadType !== 'string' || !Array.isArray(doc.signatures)) {
    throw new SigstoreError(
      'SIGSTORE_ENVELOPE_INVALID',
      'dsse envelope: expected an object with payloadType, payload and signatures',
    );
  }
  const signatures = doc.signatures.slice(0, 16).map((s) => {
    if (!isRecord(s))
      throw new SigstoreError('SIGSTORE_ENVELOPE_INVALID', 'dsse envelope: invalid signature');
    return { keyid: typeof s.keyid === 'string' ? s.keyid : '', sig: strictBase64(s.sig, 'sig') };
  });
  if (signatures.length === 0)
    throw new SigstoreError('SIGSTORE_ENVELOPE_INVALID', 'dsse envelope: no signatures');
  return { payloadType: doc.payloadType, payload: strictBase64(doc.payload, 'payload'), signatures };
}

/** Refuses a DSSE payload that is not an in-toto statement (by its signed payload type). */
export function requireInTotoPayload(payloadType: string): void {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new SigstoreError(
      'SIGSTORE_PAYLOAD_TYPE',
      `dsse payload type ${JSON.stringify(payloadType.slice(0, 100))} is not ${IN_TOTO_PAYLOAD_TYPE}`,
    );
  }
}

/** An in-toto statement (v0.1 or v1) of at most `bounds`. */
export function parseStatement(payload: Uint8Array, bounds: JsonBounds): InTotoStatement {
  const doc = parseBoundedJson(payload, bounds, 'in-toto statement');
  const invalid = (detail: string) =>
    new SigstoreError('SIGSTORE_STATEMENT_INVALID', `in-toto statement: ${detail}`);
  if (!isRecord(doc) || typeof doc._type !== 'string' || !IN_TOTO_STATEMENT_TYPES.includes(doc._type))
    throw invalid(`expected _type ${IN_TOTO_STATEMENT_TYPES.join(' or ')}`);
  if (!Array.isArray(doc.subject)) throw invalid('expected a subject list');
  if (typeof doc.predicateType !== 'string') throw invalid('expected a predicateType');
  const subject = doc.subject.map((s): InTotoSubject => {
    if (!isRecord(s) || !isRecord(s.digest)) throw invalid('expected subjects with a digest object');
    const digest: Record<string, string> = {};
    for (const [alg, value] of Object.entries(s.digest)) if (typeof value === 'string') digest[alg] = value;
    return { name: typeof s.name === 'string' ? s.name : '', digest };
  });
  return { type: doc._type, subject, predicateType: doc.predicateType, predicate: doc.predicate ?? null };
}

/** The `sha256:<hex>` digests a statement's subjects name. */
export function subjectDigests(statement: InTotoStatement): string[] {
  return statement.subject.flatMap((s) => {
    const d = s.digest.sha256;
    return typeof d === 'string' && /^[a-f0-9]{64}$/.test(d) ? [`sha256:${d}`] : [];
  });
}
