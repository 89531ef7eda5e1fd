// RFC 3161 timestamp countersignatures (TimeStampToken: CMS SignedData over a TSTInfo), verified
// as notation-go does through tspclient-go: one signer, its signed attributes (content type,
// message digest, ESS signing-certificate-v2) and signature, the TSA chain to a TSA root at the
// timestamp's time with the timestamping certificate requirements, the message imprint over the
// envelope's signature, and the time range genTime ± accuracy. DER is read with ../sigstore/der.ts.
import { createHash, verify } from 'node:crypto';
import { certificateIssuerAndSerial, children, decodeOid, readTlv, type Tlv } from '../sigstore/der.ts';
import { type Certificate, parseCertificateDerCached, verifyCertificateChain } from '../sigstore/x509.ts';
import { OID_TIME_STAMPING, revocationEndpoints, subjectOf, validateChain } from './certs.ts';
import { NotationError } from './errors.ts';

export const MAX_TIMESTAMP_TOKEN_BYTES = 64 << 10;
const MAX_TOKEN_CERTIFICATES = 10;
const MAX_SIGNED_ATTRIBUTES = 32;

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_TST_INFO = '1.2.840.113549.1.9.16.1.4';
const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const OID_SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';
const OID_BASELINE_POLICY = '0.4.0.2023.1.1';
const OID_SUBJECT_KEY_IDENTIFIER = '2.5.29.14';
const HASHES: Record<string, string> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const RSA_PKCS1 = new Set([
  '1.2.840.113549.1.1.1',
  '1.2.840.113549.1.1.11',
  '1.2.840.113549.1.1.12',
  '1.2.840.113549.1.1.13',
]);
const ECDSA = new Set([
  '1.2.840.10045.2.1',
  '1.2.840.10045.4.3.2',
  '1.2.840.10045.4.3.3',
  '1.2.840.10045.4.3.4',
]);

function invalid(detail: string, cause?: unknown): NotationError {
  return new NotationError('NOTATION_TIMESTAMP_INVALID', `timestamp countersignature: ${detail}`, { cause });
}

export interface VerifiedTimestamp {
  /** Set when a TSA certificate names revocation endpoints and revocation is only logged. */
  readonly revocationWarning?: string;
  /** The earliest and latest the stamped time can be (genTime ∓ accuracy). */
  readonly earliest: Date;
  readonly latest: Date;
  readonly tsa: readonly Certificate[];
}

interface Parsed {
  readonly eContent: Uint8Array;
  readonly certificates: Certificate[];
  readonly digestAlgorithm: string;
  readonly signedAttrs: Uint8Array;
  readonly attributes: Map<string, Uint8Array>;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
  readonly sid: { issuer: Uint8Array; serial: Uint8Array } | { ski: Uint8Array };
}

function one(_buf: Uint8Array, t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined || t.tag !== tag) throw invalid(`expected ${what}`);
  return t;
}

function oid(buf: Uint8Array, t: Tlv | undefined, what: string): string {
  const o = one(buf, t, 0x06, what);
  return decodeOid(buf.subarray(o.start, o.end));
}

function algorithm(buf: Uint8Array, t: Tlv | undefined, what: string): string {
  return oid(buf, children(buf, one(buf, t, 0x30, what))[0], what);
}

function hashName(oidValue: string, what: string): string {
  const h = HASHES[oidValue];
  if (h === undefined) throw invalid(`unsupported ${what} ${oidValue}`);
  return h;
}

function parseToken(token: Uint8Array): Parsed {
  const ci = readTlv(token, 0);
  if (ci.end !== token.length || ci.tag !== 0x30) throw invalid('not a DER ContentInfo');
  const [ctype, wrapped] = children(token, ci);
  if (oid(token, ctype, 'content type') !== OID_SIGNED_DATA) throw invalid('content is not SignedData');
  const sd = one(token, children(token, one(token, wrapped, 0xa0, 'content'))[0], 0x30, 'SignedData');
  const fields = children(token, sd);
  const encap = children(token, one(token, fields[2], 0x30, 'encapsulated content'));
  if (oid(token, encap[0], 'encapsulated content type') !== OID_TST_INFO)
    throw invalid('encapsulated content is not a TSTInfo');
  const eContent = one(token, children(token, one(token, encap[1], 0xa0, 'eContent'))[0], 0x04, 'eContent');
  let i = 3;
  const certificates: Certificate[] = [];
  if (fields[i]?.tag === 0xa0) {
    const certs = children(token, fields[i]!);
    if (certs.length > MAX_TOKEN_CERTIFICATES)
      throw invalid(`more than ${MAX_TOKEN_CERTIFICATES} certificates`);
    for (const c of certs)
      if (c.tag === 0x30)
        certificates.push(
          parseCertificateDerCached(token.subarray(c.header, c.end), 'timestamp certificate'),
        );
    i++;
  }
  if (fields[i]?.tag === 0xa1) i++;
  const signerInfos = children(token, one(token, fields[i], 0x31, 'signer infos'));
  if (signerInfos.length !== 1) throw invalid(`expected exactly one signer, got ${signerInfos.length}`);
  const si = children(token, signerInfos[0]!);
  const sidTlv = si[1]!;
  let sid: Parsed['sid'];
  if (sidTlv?.tag === 0x30) {
    const [issuer, serial] = children(token, sidTlv);
    sid = {
      issuer: token.subarray(one(token, issuer, 0x30, 'issuer').header, issuer!.end),
      serial: token.subarray(one(token, serial, 0x02, 'serial').start, serial!.end),
    };
  } else if (sidTlv?.tag === 0x80) sid = { ski: token.subarray(sidTlv.start, sidTlv.end) };
  else throw invalid('expected a signer identifier');
  const digestAlgorithm = hashName(algorithm(token, si[2], 'digest algorithm'), 'digest algorithm');
  const attrs = one(token, si[3], 0xa0, 'signed attributes');
  const attributes = new Map<string, Uint8Array>();
  const list = children(token, attrs);
  if (list.length > MAX_SIGNED_ATTRIBUTES) throw invalid('too many signed attributes');
  for (const a of list) {
    const [type, values] = children(token, one(token, a, 0x30, 'attribute'));
    const name = oid(token, type, 'attribute type');
    const vs = children(token, one(token, values, 0x31, 'attribute values'));
    if (vs.length !== 1 || attributes.has(name))
      throw invalid(`attribute ${name} must have exactly one value`);
    attributes.set(name, token.subarray(vs[0]!.header, vs[0]!.end));
  }
  // The signature covers the attributes DER-encoded as a SET (tag 0x31), not as [0].
  const signedAttrs = Uint8Array.from(token.subarray(attrs.header, attrs.end));
  signedAttrs[0] = 0x31;
  const signatureAlgorithm = algorithm(token, si[4], 'signature algorithm');
  const signature = one(token, si[5], 0x04, 'signature');
  return {
    eContent: token.subarray(eContent.start, eContent.end),
    certificates,
    digestAlgorithm,
    signedAttrs,
    attributes,
    signatureAlgorithm,
    signature: token.subarray(signature.start, signature.end),
    sid,
  };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function unsignedInteger(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

function signerCertificate(p: Parsed): Certificate {
  const found = p.certificates.find((c) => {
    if ('ski' in p.sid) {
      const ext = c.extensions.find((e) => e.oid === OID_SUBJECT_KEY_IDENTIFIER);
      if (ext === undefined) return false;
      const t = readTlv(ext.value, 0);
      return equal(ext.value.subarray(t.start, t.end), p.sid.ski);
    }
    const own = certificateIssuerAndSerial(c.der);
    return (
      equal(own.issuer, p.sid.issuer) && equal(unsignedInteger(own.serial), unsignedInteger(p.sid.serial))
    );
  });
  if (found === undefined) throw invalid('the signer certificate is not in the token');
  return found;
}

function verifySignerInfo(p: Parsed, signer: Certificate): void {
  const contentType = p.attributes.get(OID_CONTENT_TYPE);
  if (
    contentType === undefined ||
    decodeOid(contentType.subarray(readTlv(contentType, 0).start)) !== OID_TST_INFO
  )
    throw invalid('content-type attribute is not TSTInfo');
  const digest = p.attributes.get(OID_MESSAGE_DIGEST);
  const d = digest === undefined ? undefined : readTlv(digest, 0);
  if (
    digest === undefined ||
    d?.tag !== 0x04 ||
    !equal(digest.subarray(d.start, d.end), createHash(p.digestAlgorithm).update(p.eContent).digest())
  )
    throw invalid('message-digest attribute does not match the TSTInfo');
  const key = signer.x509.publicKey;
  let ok = false;
  try {
    if (RSA_PKCS1.has(p.signatureAlgorithm) && key.asymmetricKeyType === 'rsa')
      ok = verify(p.digestAlgorithm, p.signedAttrs, key, p.signature);
    else if (ECDSA.has(p.signatureAlgorithm) && key.asymmetricKeyType === 'ec')
      ok = verify(p.digestAlgorithm, p.signedAttrs, key, p.signature);
    else throw invalid(`unsupported signature algorithm ${p.signatureAlgorithm}`);
  } catch (err) {
    if (err instanceof NotationError) throw err;
    ok = false;
  }
  if (!ok) throw invalid('the TSA signature does not verify');
  // ESS signing-certificate-v2: the first ESSCertIDv2 names the signer certificate by hash.
  const scv2 = p.attributes.get(OID_SIGNING_CERTIFICATE_V2);
  if (scv2 === undefined) throw invalid('signing-certificate-v2 attribute is missing');
  const certs = children(scv2, one(scv2, children(scv2, readTlv(scv2, 0))[0], 0x30, 'ESSCertIDv2 list'));
  const first = children(scv2, one(scv2, certs[0], 0x30, 'ESSCertIDv2'));
  let hash = 'sha256';
  let at = 0;
  if (first[0]?.tag === 0x30) {
    hash = hashName(algorithm(scv2, first[0], 'certificate hash algorithm'), 'certificate hash algorithm');
    at = 1;
  }
  const certHash = one(scv2, first[at], 0x04, 'certificate hash');
  if (!equal(scv2.subarray(certHash.start, certHash.end), createHash(hash).update(signer.der).digest()))
    throw invalid('signing-certificate-v2 does not name the signer certificate');
}

const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?Z$/;

interface TstInfo {
  readonly hash: string;
  readonly hashed: Uint8Array;
  readonly genTime: Date;
  readonly accuracyMs: number;
}

function integerValue(buf: Uint8Array, t: Tlv): number {
  if (t.end - t.start > 6) throw invalid('accuracy out of range');
  let v = 0;
  for (let i = t.start; i < t.end; i++) v = v * 256 + buf[i]!;
  return v;
}

function parseTstInfo(info: Uint8Array): TstInfo {
  const seq = readTlv(info, 0);
  if (seq.tag !== 0x30 || seq.end !== info.length) throw invalid('TSTInfo is not a DER sequence');
  const f = children(info, seq);
  const policy = oid(info, f[1], 'policy');
  const imprint = children(info, one(info, f[2], 0x30, 'message imprint'));
  const hash = hashName(
    algorithm(info, imprint[0], 'message imprint algorithm'),
    'message imprint algorithm',
  );
  const hashed = one(info, imprint[1], 0x04, 'hashed message');
  const gt = one(info, f[4], 0x18, 'genTime');
  const m = GENERALIZED_TIME.exec(new TextDecoder('latin1').decode(info.subarray(gt.start, gt.end)));
  if (m === null) throw invalid('genTime is not a GeneralizedTime in UTC');
  const [, y, mo, d, h, mi, s, frac] = m;
  const ms = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!) + Math.floor(Number(`0.${frac ?? '0'}`) * 1000);
  let accuracyMs: number | undefined;
  if (f[5]?.tag === 0x30) {
    accuracyMs = 0;
    for (const a of children(info, f[5])) {
      if (a.tag === 0x02) accuracyMs += integerValue(info, a) * 1000;
      else if (a.tag === 0x80) accuracyMs += integerValue(info, a);
      else if (a.tag === 0x81) accuracyMs += integerValue(info, a) / 1000;
    }
  }
  return {
    hash,
    hashed: info.subarray(hashed.start, hashed.end),
    genTime: new Date(ms),
    accuracyMs: accuracyMs ?? (policy === OID_BASELINE_POLICY ? 1000 : 0),
  };
}

/**
 * Verifies `token` as a timestamp of `signature` by a TSA chaining to `tsaRoots`. Any failure is
 * NOTATION_TIMESTAMP_INVALID. A TSA certificate that names revocation endpoints has an unknown
 * revocation status (they are never contacted): a failure when `revocation` is enforce (as in
 * notation-go, which always checks the TSA chain), a warning when log, nothing when skip.
 */
export function verifyTimestampToken(
  token: Uint8Array,
  signature: Uint8Array,
  tsaRoots: readonly Certificate[],
  revocation: 'enforce' | 'log' | 'skip' = 'enforce',
): VerifiedTimestamp {
  if (token.byteLength > MAX_TIMESTAMP_TOKEN_BYTES)
    throw new NotationError(
      'NOTATION_TOO_LARGE',
      `timestamp token larger than ${MAX_TIMESTAMP_TOKEN_BYTES} bytes`,
    );
  if (tsaRoots.length === 0) throw invalid('no trusted TSA certificate configured');
  let parsed: Parsed;
  let info: TstInfo;
  try {
    parsed = parseToken(token);
    info = parseTstInfo(parsed.eContent);
  } catch (err) {
    if (err instanceof NotationError) throw err;
    throw invalid((err as Error).message, err);
  }
  if (!equal(info.hashed, createHash(info.hash).update(signature).digest()))
    throw invalid('the message imprint does not match the signature');
  const signer = signerCertificate(parsed);
  verifySignerInfo(parsed, signer);
  let path: Certificate[];
  try {
    path = verifyCertificateChain(signer, {
      roots: tsaRoots,
      intermediates: parsed.certificates.filter((c) => c !== signer),
      at: info.genTime,
      extKeyUsage: OID_TIME_STAMPING,
    });
  } catch (err) {
    throw invalid(`TSA certificate chain: ${(err as Error).message}`, err);
  }
  try {
    validateChain(path, 'timestamping');
  } catch (err) {
    throw invalid((err as Error).message, err);
  }
  let revocationWarning: string | undefined;
  for (const c of revocation === 'skip' ? [] : path) {
    const endpoints = revocationEndpoints(c);
    if (endpoints.length === 0) continue;
    const problem = `revocation status of TSA certificate "${subjectOf(c)}" is unknown: it names ${endpoints.join(' and ')} endpoints, which are not contacted`;
    if (revocation === 'enforce') throw invalid(problem);
    revocationWarning ??= problem;
  }
  return {
    ...(revocationWarning === undefined ? {} : { revocationWarning }),
    earliest: new Date(info.genTime.getTime() - info.accuracyMs),
    latest: new Date(info.genTime.getTime() + info.accuracyMs),
    tsa: path,
  };
}
