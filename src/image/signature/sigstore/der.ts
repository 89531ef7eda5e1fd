// Just enough DER to read what node:crypto's X509Certificate does not expose: arbitrary extensions
// (Fulcio's OIDC issuer), SAN entries by type, basic constraints, extended key usage.
// Hand-written, measured against @sigstore/core 3.2.1's ASN1Obj (2-core Linux VM, 2025-12-06):
// - it parses the whole certificate eagerly and tries every OCTET STRING as nested DER, paying an
//   exception for each that is not (SCTs, key identifiers): 105-190 us per Fulcio certificate
//   against 10-19 us here, which made keyless verification of distinct signatures 22-26% slower
//   (`node_modules/.bin/node test/bench/sigstore.bench.ts`, last line, before/after runs);
// - its toOID accumulates arcs in 32 bits and splits the first byte by 40 alone: it reads
//   2.5.29.4294967313 as 2.5.29.17, so a critical extension Go does not know would pass as the
//   SAN, and 2.999.3 as 3.16.55.3 (test/image/signature/sigstore/der.test.ts).
import { SigstoreError } from './errors.ts';

export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte: the whole encoding is buf[header, end). */
  readonly header: number;
  /** Offsets of the contents within the buffer. */
  readonly start: number;
  readonly end: number;
}

function malformed(detail: string): SigstoreError {
  return new SigstoreError('SIGSTORE_CERTIFICATE_MALFORMED', `parsing certificate der: ${detail}`);
}

export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw malformed('truncated header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw malformed('high tag numbers are not supported');
  let len = buf[offset + 1]!;
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || pos + n > limit) throw malformed('invalid length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i]!;
    pos += n;
  }
  if (pos + len > limit) throw malformed('length beyond the enclosing value');
  return { tag, header: offset, start: pos, end: pos + len };
}

export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** The dotted form of an OBJECT IDENTIFIER's contents, exact for arcs of any size. */
export function decodeOid(contents: Uint8Array): string {
  if (contents.length === 0 || (contents[contents.length - 1]! & 0x80) !== 0) {
    throw malformed('invalid object identifier');
  }
  const arcs: (number | bigint)[] = [];
  let v = 0;
  // Past 2^45 an arc continues in a bigint, so that no two identifiers read alike.
  let big: bigint | undefined;
  for (const b of contents) {
    if (big === undefined && v < 2 ** 45) v = v * 128 + (b & 0x7f);
    else big = (big ?? BigInt(v)) * 128n + BigInt(b & 0x7f);
    if (b & 0x80) continue;
    const arc = big ?? v;
    if (arcs.length > 0) arcs.push(arc);
    else if (arc < 80) arcs.push(Math.floor(Number(arc) / 40), Number(arc) % 40);
    else arcs.push(2, typeof arc === 'bigint' ? arc - 80n : arc - 80);
    v = 0;
    big = undefined;
  }
  return arcs.join('.');
}

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

/** The extensions of a DER certificate, in order. */
export function certificateExtensions(der: Uint8Array): Extension[] {
  const cert = readTlv(der, 0);
  const tbs = children(der, cert)[0];
  if (tbs === undefined || tbs.tag !== 0x30) throw malformed('missing tbsCertificate');
  const wrapper = children(der, tbs).find((t) => t.tag === 0xa3);
  if (wrapper === undefined) return [];
  const seq = children(der, wrapper)[0];
  if (seq === undefined || seq.tag !== 0x30) throw malformed('invalid extensions');
  return children(der, seq).map((ext) => {
    const parts = children(der, ext);
    const oid = parts[0];
    const last = parts[parts.length - 1];
    if (oid?.tag !== 0x06 || last?.tag !== 0x04 || parts.length > 3) throw malformed('invalid extension');
    const critical = parts.length === 3 && parts[1]!.tag === 0x01 && der[parts[1]!.start] !== 0;
    return {
      oid: decodeOid(der.subarray(oid.start, oid.end)),
      critical,
      value: der.subarray(last.start, last.end),
    };
  });
}

export interface SubjectAltNames {
  readonly emails: string[];
  readonly dnsNames: string[];
  readonly uris: string[];
  readonly ips: string[];
}

const latin1 = new TextDecoder('latin1');

export function parseSubjectAltNames(value: Uint8Array): SubjectAltNames {
  const out: SubjectAltNames = { emails: [], dnsNames: [], uris: [], ips: [] };
  const seq = readTlv(value, 0);
  for (const name of children(value, seq)) {
    const bytes = value.subarray(name.start, name.end);
    switch (name.tag) {
      case 0x81:
        out.emails.push(latin1.decode(bytes));
        break;
      case 0x82:
        out.dnsNames.push(latin1.decode(bytes));
        break;
      case 0x86:
        out.uris.push(latin1.decode(bytes));
        break;
      case 0x87:
        out.ips.push(bytes.length === 4 ? bytes.join('.') : Buffer.from(bytes).toString('hex'));
        break;
      default:
        break;
    }
  }
  return out;
}

export interface BasicConstraints {
  readonly ca: boolean;
  readonly pathLen?: number;
}

export function parseBasicConstraints(value: Uint8Array): BasicConstraints {
  const parts = children(value, readTlv(value, 0));
  let ca = false;
  let pathLen: number | undefined;
  for (const p of parts) {
    if (p.tag === 0x01) ca = value[p.start] !== 0;
    else if (p.tag === 0x02) {
      if (p.end - p.start > 4) throw malformed('path length too large');
      pathLen = 0;
      for (let i = p.start; i < p.end; i++) pathLen = pathLen * 256 + value[i]!;
    }
  }
  return pathLen === undefined ? { ca } : { ca, pathLen };
}

export function parseOidSequence(value: Uint8Array): string[] {
  return children(value, readTlv(value, 0)).map((t) => {
    if (t.tag !== 0x06) throw malformed('expected an object identifier');
    return decodeOid(value.subarray(t.start, t.end));
  });
}

/** A DER string value (UTF8String, IA5String, PrintableString), as Fulcio's v2 extensions hold. */
export function parseDerString(value: Uint8Array): string {
  const t = readTlv(value, 0);
  if (t.end !== value.length || ![0x0c, 0x16, 0x13].includes(t.tag)) throw malformed('expected a string');
  return new TextDecoder('utf-8', { fatal: true }).decode(value.subarray(t.start, t.end));
}

/** The bits of a KeyUsage extension value (RFC 5280 4.2.1.3), bit 0 (digitalSignature) first. */
export function parseKeyUsage(value: Uint8Array): Set<number> {
  const t = readTlv(value, 0);
  if (t.tag !== 0x03 || t.end === t.start) throw malformed('expected a bit string');
  const unused = value[t.start]!;
  if (unused > 7) throw malformed('invalid bit string');
  const bits = new Set<number>();
  const bytes = value.subarray(t.start + 1, t.end);
  for (let i = 0; i < bytes.length; i++) {
    for (let b = 0; b < 8; b++) {
      if (i === bytes.length - 1 && b >= 8 - unused) break;
      if (bytes[i]! & (0x80 >> b)) bits.add(i * 8 + b);
    }
  }
  return bits;
}

export interface NameAttribute {
  readonly oid: string;
  readonly value: string;
}

/**
 * The subject of a DER certificate as RDNs, each a list of attributes (more than one: a
 * multi-valued RDN). String values only (Printable, UTF8, IA5, Teletex as latin1, BMP); any other
 * value type is an error.
 */
export function certificateSubject(der: Uint8Array): NameAttribute[][] {
  const tbs = children(der, readTlv(der, 0))[0];
  if (tbs === undefined || tbs.tag !== 0x30) throw malformed('missing tbsCertificate');
  const fields = children(der, tbs);
  // version [0] is optional; then serial, signature, issuer, validity, subject.
  const subject = fields[fields[0]?.tag === 0xa0 ? 5 : 4];
  if (subject?.tag !== 0x30) throw malformed('missing subject');
  return children(der, subject).map((rdn) => {
    if (rdn.tag !== 0x31) throw malformed('invalid relative distinguished name');
    return children(der, rdn).map((atv) => {
      const [type, value] = children(der, atv);
      if (type?.tag !== 0x06 || value === undefined) throw malformed('invalid attribute');
      return { oid: decodeOid(der.subarray(type.start, type.end)), value: nameString(der, value) };
    });
  });
}

function nameString(der: Uint8Array, t: Tlv): string {
  const bytes = der.subarray(t.start, t.end);
  switch (t.tag) {
    case 0x0c:
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    case 0x13:
    case 0x16:
    case 0x14:
      return latin1.decode(bytes);
    case 0x1e: {
      if (bytes.length % 2 !== 0) throw malformed('invalid BMPString');
      let s = '';
      for (let i = 0; i < bytes.length; i += 2) s += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!);
      return s;
    }
    default:
      throw malformed(`unsupported attribute value type 0x${t.tag.toString(16)}`);
  }
}

/** The signatureAlgorithm object identifier of a DER certificate. */
export function certificateSignatureAlgorithm(der: Uint8Array): string {
  const alg = children(der, readTlv(der, 0))[1];
  const oid = alg?.tag === 0x30 ? children(der, alg)[0] : undefined;
  if (oid?.tag !== 0x06) throw malformed('missing signature algorithm');
  return decodeOid(der.subarray(oid.start, oid.end));
}

/** The issuer Name (whole TLV) and serial number (INTEGER contents) of a DER certificate. */
export function certificateIssuerAndSerial(der: Uint8Array): { issuer: Uint8Array; serial: Uint8Array } {
  const tbs = children(der, readTlv(der, 0))[0];
  if (tbs === undefined || tbs.tag !== 0x30) throw malformed('missing tbsCertificate');
  const fields = children(der, tbs);
  const at = fields[0]?.tag === 0xa0 ? 1 : 0;
  const serial = fields[at];
  const issuer = fields[at + 2];
  if (serial?.tag !== 0x02 || issuer?.tag !== 0x30) throw malformed('missing issuer or serial number');
  return { issuer: der.subarray(issuer.header, issuer.end), serial: der.subarray(serial.start, serial.end) };
}
