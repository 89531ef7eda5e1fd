// The JWS envelope (application/jose+json): flattened JSON serialization only, as the Notary
// Project requires. Hand-written on node:crypto rather than with `jose`: what a JWS library adds
// here is the base64url split and one verify call, while every rule that matters (the allowed
// algorithms, `alg` dictated by the certificate, Notation's critical headers and times) is
// Notation's and would be checked here anyway.
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

const ALGORITHMS = new Set<string>(['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']);
const TOP_LEVEL = new Set(['payload', 'protected', 'header', 'signature']);
const REGISTERED = new Set([
  'alg',
  'jku',
  'jwk',
  'kid',
  'x5u',
  'x5c',
  'x5t',
  'x5t#S256',
  'typ',
  'cty',
  'crit',
]);
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// RFC 3339 date-time, as Go's time.Time unmarshals it.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

function base64url(value: unknown, what: string): Buffer {
  if (typeof value !== 'string' || !BASE64URL.test(value) || value.length % 4 === 1)
    throw malformed('jws envelope', `${what} is not base64url`);
  return Buffer.from(value, 'base64url');
}

function base64(value: unknown, what: string): Buffer {
  if (typeof value !== 'string' || !BASE64.test(value))
    throw malformed('jws envelope', `${what} is not base64`);
  return Buffer.from(value, 'base64');
}

function time(value: unknown, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const m = typeof value === 'string' ? RFC3339.exec(value) : null;
  const date = m === null ? undefined : new Date(value as string);
  if (date === undefined || Number.isNaN(date.getTime()))
    throw malformed('jws envelope', `${name} is not an RFC 3339 time`);
  return date;
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw malformed('jws envelope', `${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function json(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw malformed('jws envelope', `${what} is not JSON`, err);
  }
}

export function decodeJws(bytes: Uint8Array): DecodedEnvelope {
  const env = object(json(bytes, 'envelope'), 'envelope');
  for (const key of Object.keys(env))
    if (!TOP_LEVEL.has(key))
      throw malformed('jws envelope', `unexpected member ${JSON.stringify(key).slice(0, 100)}`);
  if (typeof env.protected !== 'string' || typeof env.payload !== 'string')
    throw malformed('jws envelope', 'protected and payload must be strings');
  const protectedRaw = base64url(env.protected, 'protected');
  const payload = base64url(env.payload, 'payload');
  const signature = base64url(env.signature, 'signature');
  const header = object(env.header ?? {}, 'header');
  const p = object(json(protectedRaw, 'protected header'), 'protected header');
  const alg = p.alg;
  if (typeof alg !== 'string' || !ALGORITHMS.has(alg))
    throw malformed('jws envelope', `unsupported alg ${JSON.stringify(alg)?.slice(0, 100)}`);
  const crit = p.crit ?? [];
  if (!Array.isArray(crit) || crit.some((c) => typeof c !== 'string'))
    throw malformed('jws envelope', '"crit" must be an array of strings');
  for (const c of crit as string[])
    if (REGISTERED.has(c)) throw malformed('jws envelope', `registered header ${c} must not be critical`);
  const x5c = header.x5c;
  if (!Array.isArray(x5c)) throw malformed('jws envelope', 'x5c is not present');
  // Bounded before decoding: MAX_CHAIN_LENGTH is enforced on the decoded list, this on the work.
  if (x5c.length > 64) throw malformed('jws envelope', 'x5c has too many entries');
  const tsa = header[HEADER_TIMESTAMP_SIGNATURE];
  const agent = header[HEADER_SIGNING_AGENT];
  return {
    format: 'jws',
    algorithm: alg as SignatureAlgorithm,
    contentType: p.cty,
    critical: crit as string[],
    protectedNames: new Set(Object.keys(p)),
    signingScheme: p[HEADER_SIGNING_SCHEME],
    signingTime: time(p[HEADER_SIGNING_TIME], HEADER_SIGNING_TIME),
    authenticSigningTime: time(p[HEADER_AUTHENTIC_SIGNING_TIME], HEADER_AUTHENTIC_SIGNING_TIME),
    expiry: time(p[HEADER_EXPIRY], HEADER_EXPIRY),
    certificates: x5c.map((c, i) => {
      if (typeof c !== 'string') throw malformed('jws envelope', `x5c[${i}] is not a string`);
      return c;
    }),
    signature,
    signed: Buffer.from(`${env.protected}.${env.payload}`, 'ascii'),
    payload,
    timestampToken: tsa === undefined ? undefined : base64(tsa, HEADER_TIMESTAMP_SIGNATURE),
    signingAgent: typeof agent === 'string' ? agent : undefined,
  };
}
