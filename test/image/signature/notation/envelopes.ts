// Notation envelopes made here, for the cases notation-go will not produce (unknown critical
// headers, wrong algorithms, tampering, oversized or malformed input) and for benchmarks. The
// interop tests use envelopes notation-go made (test/tools/notation-sign).
import { constants, createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { hashOf, type SignatureAlgorithm } from '../../../../src/image/signature/notation/envelope.ts';

export type Alg = SignatureAlgorithm;
const COSE_ALG: Record<Alg, number> = {
  PS256: -37,
  PS384: -38,
  PS512: -39,
  ES256: -7,
  ES384: -35,
  ES512: -36,
};

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export interface EnvelopeOptions {
  readonly alg: Alg;
  readonly key: KeyObject | string;
  /** DER certificates, leaf first. */
  readonly chain: readonly Uint8Array[];
  readonly target: Descriptor;
  readonly scheme?: 'notary.x509' | 'notary.x509.signingAuthority';
  readonly signingTime?: Date;
  readonly expiry?: Date;
  /** Extra protected headers (string values), and names to add to `crit`. */
  readonly extra?: Readonly<Record<string, string>>;
  readonly crit?: readonly string[];
  /** Replaces the computed `crit` list. */
  readonly critExactly?: readonly string[];
  readonly contentType?: string;
}

/** DER certificates of a PEM text, in order. */
export function derChain(pem: string): Uint8Array[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) =>
    Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'),
  );
}

function primitive(alg: Alg, key: KeyObject, data: Uint8Array): Buffer {
  return alg.startsWith('PS')
    ? sign(hashOf(alg), data, {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: { sha256: 32, sha384: 48, sha512: 64 }[hashOf(alg)],
      })
    : sign(hashOf(alg), data, { key, dsaEncoding: 'ieee-p1363' });
}

function keyOf(o: EnvelopeOptions): KeyObject {
  return typeof o.key === 'string' ? createPrivateKey(o.key) : o.key;
}

function headers(o: EnvelopeOptions) {
  const scheme = o.scheme ?? 'notary.x509';
  const time = o.signingTime ?? new Date(Math.floor(Date.now() / 1000) * 1000);
  const timeName =
    scheme === 'notary.x509' ? 'io.cncf.notary.signingTime' : 'io.cncf.notary.authenticSigningTime';
  const crit = o.critExactly ?? [
    'io.cncf.notary.signingScheme',
    ...(scheme === 'notary.x509' ? [] : [timeName]),
    ...(o.expiry ? ['io.cncf.notary.expiry'] : []),
    ...(o.crit ?? []),
  ];
  return { scheme, time, timeName, crit };
}

export function payloadOf(target: Descriptor): Buffer {
  return Buffer.from(JSON.stringify({ targetArtifact: target }));
}

export function jwsEnvelope(o: EnvelopeOptions): Buffer {
  const h = headers(o);
  const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const protectedHeader = {
    alg: o.alg,
    crit: h.crit,
    cty: o.contentType ?? 'application/vnd.cncf.notary.payload.v1+json',
    'io.cncf.notary.signingScheme': h.scheme,
    [h.timeName]: rfc3339(h.time),
    ...(o.expiry ? { 'io.cncf.notary.expiry': rfc3339(o.expiry) } : {}),
    ...o.extra,
  };
  const p = Buffer.from(JSON.stringify(protectedHeader)).toString('base64url');
  const payload = payloadOf(o.target).toString('base64url');
  const signature = primitive(o.alg, keyOf(o), Buffer.from(`${p}.${payload}`));
  return Buffer.from(
    JSON.stringify({
      payload,
      protected: p,
      header: {
        x5c: o.chain.map((c) => Buffer.from(c).toString('base64')),
        'io.cncf.notary.signingAgent': 'portcullis-test',
      },
      signature: signature.toString('base64url'),
    }),
  );
}

// --- a CBOR encoder, enough for COSE test envelopes ---------------------------------------------

export type Cbor =
  | number
  | string
  | Uint8Array
  | Cbor[]
  | Map<number | string, Cbor>
  | { tag: number; value: Cbor };

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.of((major << 5) | n);
  if (n < 0x100) return Buffer.of((major << 5) | 24, n);
  if (n < 0x10000) return Buffer.of((major << 5) | 25, n >> 8, n & 0xff);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function cbor(v: Cbor): Buffer {
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') {
    const b = Buffer.from(v);
    return Buffer.concat([head(3, b.length), b]);
  }
  if (v instanceof Uint8Array) return Buffer.concat([head(2, v.length), v]);
  if (Array.isArray(v)) return Buffer.concat([head(4, v.length), ...v.map(cbor)]);
  if (v instanceof Map)
    return Buffer.concat([head(5, v.size), ...[...v].flatMap(([k, x]) => [cbor(k), cbor(x)])]);
  return Buffer.concat([head(6, v.tag), cbor(v.value)]);
}

export function coseEnvelope(o: EnvelopeOptions): Buffer {
  const h = headers(o);
  const epoch = (d: Date) => ({ tag: 1, value: Math.floor(d.getTime() / 1000) });
  const p = new Map<number | string, Cbor>([
    [1, COSE_ALG[o.alg]],
    [2, [...h.crit]],
    [3, o.contentType ?? 'application/vnd.cncf.notary.payload.v1+json'],
    ['io.cncf.notary.signingScheme', h.scheme],
    [h.timeName, epoch(h.time)],
  ]);
  if (o.expiry) p.set('io.cncf.notary.expiry', epoch(o.expiry));
  for (const [k, v] of Object.entries(o.extra ?? {})) p.set(k, v);
  const protectedBytes = cbor(p);
  const payload = payloadOf(o.target);
  const toBeSigned = cbor(['Signature1', protectedBytes, new Uint8Array(), payload]);
  const signature = primitive(o.alg, keyOf(o), toBeSigned);
  const unprotected = new Map<number | string, Cbor>([[33, o.chain.map((c) => Uint8Array.from(c))]]);
  return cbor({ tag: 18, value: [protectedBytes, unprotected, payload, signature] });
}
