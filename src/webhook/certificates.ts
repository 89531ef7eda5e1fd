// X.509 for the webhook's own TLS: issuing a CA and serving certificates (ECDSA P-256, signed with
// node:crypto; @peculiar/asn1-x509 only encodes the DER), and checking PEM that comes from outside.
// The only module importing @peculiar/*.
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { isIP } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_serverAuth,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
import { WebhookError } from './review.ts';

/** A certificate and its private key, both PEM. */
export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface ValidityPeriod {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
/** No CA bundle or certificate chain the webhook handles is anywhere near this. */
const MAX_PEM_BYTES = 64 << 10;
const MAX_BUNDLE_CERTIFICATES = 16;

function distinguishedName(commonName: string): Name {
  return new Name([
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({ type: COMMON_NAME, value: new AttributeValue({ utf8String: commonName }) }),
    ]),
  ]);
}

function extension(id: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID: id, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spki: SubjectPublicKeyInfo): ArrayBuffer {
  return toArrayBuffer(createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest());
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Who signs: a CA (its name, private key, key identifier), or the subject itself when undefined. */
interface Issuer {
  readonly name: string;
  readonly key: KeyObject;
  readonly keyId: ArrayBuffer;
}

interface Subject {
  readonly name: string;
  readonly keys: { readonly publicKey: KeyObject; readonly privateKey: KeyObject };
  readonly period: ValidityPeriod;
  /** A CA (keyCertSign) or a TLS server certificate for these DNS names and IP addresses. */
  readonly role: { readonly kind: 'ca' } | { readonly kind: 'server'; readonly hosts: readonly string[] };
}

function encode(subject: Subject, caIssuer: Issuer | undefined): string {
  const spki = AsnConvert.parse(
    subject.keys.publicKey.export({ type: 'spki', format: 'der' }),
    SubjectPublicKeyInfo,
  );
  const ownKeyId = keyIdentifier(spki);
  const issuer = caIssuer ?? { name: subject.name, key: subject.keys.privateKey, keyId: ownKeyId };
  const serial = randomBytes(16);
  // A positive INTEGER in minimal DER: the first byte neither zero nor above 0x7f.
  serial[0] = ((serial[0] ?? 0) & 0x3f) | 0x40;
  const ca = subject.role.kind === 'ca';
  const extensions = [
    extension(
      id_ce_basicConstraints,
      true,
      new BasicConstraints(ca ? { cA: true, pathLenConstraint: 0 } : {}),
    ),
    extension(
      id_ce_keyUsage,
      true,
      new KeyUsage(ca ? KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign : KeyUsageFlags.digitalSignature),
    ),
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(ownKeyId)),
  ];
  extensions.push(
    extension(
      id_ce_authorityKeyIdentifier,
      false,
      new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(issuer.keyId) }),
    ),
  );
  if (subject.role.kind === 'server') {
    extensions.push(extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth])));
    const names = subject.role.hosts.map((h) =>
      isIP(h) === 0 ? new GeneralName({ dNSName: h }) : new GeneralName({ iPAddress: h }),
    );
    extensions.push(extension(id_ce_subjectAltName, false, new SubjectAlternativeName(names)));
  }
  const algorithm = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(serial),
    signature: algorithm,
    issuer: distinguishedName(issuer.name),
    subject: distinguishedName(subject.name),
    validity: new Validity(subject.period),
    subjectPublicKeyInfo: spki,
    extensions: new Extensions(extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign('sha256', tbsDer, issuer.key);
  const der = AsnConvert.serialize(
    new Certificate({
      tbsCertificate: tbs,
      signatureAlgorithm: algorithm,
      signatureValue: toArrayBuffer(signature),
    }),
  );
  return new X509Certificate(Buffer.from(der)).toString();
}

function newKey(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

const keyPem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();

/** A self-signed CA that may sign serving certificates (path length 0). */
export function createCertificateAuthority(commonName: string, period: ValidityPeriod): PemPair {
  const keys = newKey();
  const certPem = encode({ name: commonName, keys, period, role: { kind: 'ca' } }, undefined);
  return { certPem, keyPem: keyPem(keys.privateKey) };
}

/** A TLS server certificate for `hosts`, signed by `ca` (or self-signed when `ca` is undefined). */
export function issueServingCertificate(
  ca: PemPair | undefined,
  hosts: readonly string[],
  period: ValidityPeriod,
): PemPair {
  const keys = newKey();
  const name = (hosts[0] ?? 'portcullis').slice(0, 64);
  const subject: Subject = { name, keys, period, role: { kind: 'server', hosts } };
  if (ca === undefined) return { certPem: encode(subject, undefined), keyPem: keyPem(keys.privateKey) };
  const caCert = new X509Certificate(ca.certPem);
  const issuer: Issuer = {
    name: commonNameOf(caCert),
    key: createPrivateKey(ca.keyPem),
    keyId: keyIdentifier(
      AsnConvert.parse(caCert.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo),
    ),
  };
  return { certPem: encode(subject, issuer), keyPem: keyPem(keys.privateKey) };
}

function commonNameOf(cert: X509Certificate): string {
  const m = /^CN=(.*)$/m.exec(cert.subject);
  return m?.[1] ?? 'portcullis';
}

/**
 * The certificates of a PEM text, in order. Throws WebhookError TLS_INVALID naming `field` when
 * the text is too large, holds no certificate, too many, or one that does not parse.
 */
export function parseCertificates(pem: Buffer | string, field: string): X509Certificate[] {
  const text = typeof pem === 'string' ? pem : pem.toString('utf8');
  if (Buffer.byteLength(text) > MAX_PEM_BYTES) {
    throw new WebhookError('TLS_INVALID', `${field}: expected at most ${MAX_PEM_BYTES} bytes of PEM`);
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new WebhookError('TLS_INVALID', `${field}: no PEM certificate found`);
  if (blocks.length > MAX_BUNDLE_CERTIFICATES) {
    throw new WebhookError(
      'TLS_INVALID',
      `${field}: expected at most ${MAX_BUNDLE_CERTIFICATES} certificates, got ${blocks.length}`,
    );
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new WebhookError('TLS_INVALID', `${field}: certificate ${i + 1}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  });
}

/** A private key from PEM; throws WebhookError TLS_INVALID naming `field`. */
export function parsePrivateKey(pem: Buffer | string, field: string): KeyObject {
  if ((typeof pem === 'string' ? Buffer.byteLength(pem) : pem.length) > MAX_PEM_BYTES) {
    throw new WebhookError('TLS_INVALID', `${field}: expected at most ${MAX_PEM_BYTES} bytes of PEM`);
  }
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new WebhookError('TLS_INVALID', `${field}: not a private key: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** True when `cert` is a CA certificate that signed itself. */
export function isSelfSignedCa(cert: X509Certificate): boolean {
  return cert.ca && cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

/** True when `issuer` signed `cert`. */
export function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/** The hosts (DNS names or IP addresses) `cert` does not cover. */
export function uncoveredHosts(cert: X509Certificate, hosts: readonly string[]): string[] {
  return hosts.filter((h) =>
    isIP(h) === 0 ? cert.checkHost(h, { wildcards: false }) === undefined : cert.checkIP(h) === undefined,
  );
}

/** SHA-256 fingerprint, hex: what logs and tests name a certificate by. */
export const certificateFingerprint = (cert: X509Certificate): string =>
  cert.fingerprint256.replaceAll(':', '').toLowerCase();
