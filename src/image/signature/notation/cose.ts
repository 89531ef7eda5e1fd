// The COSE envelope (application/cose): a COSE_Sign1_Tagged message (RFC 9052) whose protected
// header carries Notation's signed attributes, decoded with the bounded decoder in cbor.ts.
import { type CborKey, type CborValue, decodeCbor, sigStructure } from './cbor.ts';
import {
  type DecodedEnvelope,
  HEADER_AUTHENTIC_SIGNING_TIME,
  HEADER_EXPIRY,
  HEADER_SIGNING_AGENT,
  HEADER_SIGNING_SCHEME,
  HEADER_SIGNING_TIME,
  HEADER_TIMESTAMP_SIGNATURE,
  malformed,
  type SignatureAlgorithm,
} from './envelope.ts';

const COSE_SIGN1_TAG = 18;
const LABEL_ALG = 1;
const LABEL_CRIT = 2;
const LABEL_CONTENT_TYPE = 3;
const LABEL_X5CHAIN = 33;
const ALGORITHMS = new Map<number, SignatureAlgorithm>([
  [-37, 'PS256'],
  [-38, 'PS384'],
  [-39, 'PS512'],
  [-7, 'ES256'],
  [-35, 'ES384'],
  [-36, 'ES512'],
]);

function isMap(v: CborValue): v is Map<CborKey, CborValue> {
  return v instanceof Map;
}

function bytes(v: CborValue, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw malformed('cose envelope', `${what} is not a byte string`);
  return v;
}

/** An epoch-based date/time (tag 1), as notation-core-go requires for its time headers. */
function time(header: Map<CborKey, CborValue>, name: string): Date | undefined {
  const v = header.get(name);
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object' || !('tag' in v) || v.tag !== 1)
    throw malformed('cose envelope', `${name} is not a tag 1 date/time`);
  const seconds = v.value;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds))
    throw malformed('cose envelope', `${name} is not a number of seconds`);
  const date = new Date(seconds * 1000);
  if (Number.isNaN(date.getTime())) throw malformed('cose envelope', `${name} is out of range`);
  return date;
}

export function decodeCose(input: Uint8Array): DecodedEnvelope {
  const top = decodeCbor(input);
  if (top === null || typeof top !== 'object' || !('tag' in top) || top.tag !== COSE_SIGN1_TAG)
    throw malformed('cose envelope', 'not a COSE_Sign1_Tagged message');
  const parts = top.value;
  if (!Array.isArray(parts) || parts.length !== 4) throw malformed('cose envelope', 'expected 4 elements');
  const [protectedValue, unprotected, payloadValue, signatureValue] = parts as [
    CborValue,
    CborValue,
    CborValue,
    CborValue,
  ];
  const protectedBytes = bytes(protectedValue, 'protected header');
  if (payloadValue === null) throw malformed('cose envelope', 'detached payloads are not supported');
  const payload = bytes(payloadValue, 'payload');
  const signature = bytes(signatureValue, 'signature');
  if (!isMap(unprotected)) throw malformed('cose envelope', 'unprotected header is not a map');
  const p = protectedBytes.length === 0 ? new Map<CborKey, CborValue>() : decodeCbor(protectedBytes);
  if (!isMap(p)) throw malformed('cose envelope', 'protected header is not a map');
  for (const label of p.keys())
    if (unprotected.has(label))
      throw malformed('cose envelope', `header ${JSON.stringify(label)} is both protected and unprotected`);
  const alg = p.get(LABEL_ALG);
  const algorithm = typeof alg === 'number' ? ALGORITHMS.get(alg) : undefined;
  if (algorithm === undefined)
    throw malformed(
      'cose envelope',
      `unsupported alg ${JSON.stringify(typeof alg === 'bigint' ? 'big' : alg)}`,
    );
  const crit = p.get(LABEL_CRIT) ?? [];
  if (!Array.isArray(crit) || crit.some((c) => typeof c !== 'string' && typeof c !== 'number'))
    throw malformed('cose envelope', 'crit must be an array of labels');
  for (const c of crit as CborKey[])
    if (typeof c === 'number' && c >= 0 && c <= 8)
      throw malformed('cose envelope', `label ${c} must not be critical`);
  const chain = unprotected.get(LABEL_X5CHAIN);
  if (!Array.isArray(chain)) throw malformed('cose envelope', 'x5chain is not present');
  const tsa = unprotected.get(HEADER_TIMESTAMP_SIGNATURE);
  const agent = unprotected.get(HEADER_SIGNING_AGENT);
  return {
    format: 'cose',
    algorithm,
    contentType: p.get(LABEL_CONTENT_TYPE),
    critical: crit as CborKey[],
    protectedNames: new Set(p.keys()),
    signingScheme: p.get(HEADER_SIGNING_SCHEME),
    signingTime: time(p, HEADER_SIGNING_TIME),
    authenticSigningTime: time(p, HEADER_AUTHENTIC_SIGNING_TIME),
    expiry: time(p, HEADER_EXPIRY),
    certificates: chain.map((c, i) => bytes(c, `x5chain[${i}]`)),
    signature,
    signed: sigStructure(protectedBytes, payload),
    payload,
    timestampToken: tsa === undefined ? undefined : bytes(tsa, HEADER_TIMESTAMP_SIGNATURE),
    signingAgent: typeof agent === 'string' ? agent : undefined,
  };
}
