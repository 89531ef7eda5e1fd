// Just enough DER to read what node:crypto's X509Certificate does not expose: arbitrary extensions
// (Fulcio's OIDC issuer), SAN entries by type, basic constraints.
import { SigstoreError } from './errors.ts';

export interface Tlv {
  readonly tag: number;
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
  return { tag, start: pos, end: pos + len };
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

export function decodeOid(buf: Uint8Array, t: Tlv): string {
  const parts: number[] = [];
  let v = 0;
  for (let i = t.start; i < t.end; i++) {
    const b = buf[i]!;
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
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
    return { oid: decodeOid(der, oid), critical, value: der.subarray(last.start, last.end) };
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
    return decodeOid(value, t);
  });
}

/** A DER string value (UTF8String, IA5String, PrintableString), as Fulcio's v2 extensions hold. */
export function parseDerString(value: Uint8Array): string {
  const t = readTlv(value, 0);
  if (t.end !== value.length || ![0x0c, 0x16, 0x13].includes(t.tag)) throw malformed('expected a string');
  return new TextDecoder('utf-8', { fatal: true }).decode(value.subarray(t.start, t.end));
}
