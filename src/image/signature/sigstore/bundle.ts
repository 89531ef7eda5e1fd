// Sigstore bundles (v0.1-v0.3, as cosign v3 attaches them through OCI referrers), verified offline
// with sigstore-js against a trusted_root.json; never dials TUF. The only module importing
// @sigstore/bundle, @sigstore/protobuf-specs and @sigstore/verify.
import { createHash } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import type { Verifier } from '@sigstore/verify';
import type { Digest } from '../../digest.ts';
import { SigstoreError } from './errors.ts';
import {
  type DsseEnvelope,
  IN_TOTO_PAYLOAD_TYPE,
  MAX_STATEMENT_DEPTH,
  parseBoundedJson,
  parseStatement,
  subjectDigests,
} from './intoto.ts';
import { isJsonObject, type JsonValue, parseStrictJson } from './json.ts';
import { parseSigstorePayload, type SigstorePayload } from './payload.ts';
import type { SigstoreTrust } from './trust.ts';
import {
  checkFulcioIdentity,
  checkPayloadBinding,
  type SignerDescription,
  type SigstoreExpectations,
} from './verify.ts';
import { parseCertificateDer } from './x509.ts';

export const BUNDLE_MEDIA_TYPES: readonly string[] = [
  'application/vnd.dev.sigstore.bundle+json;version=0.1',
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
];
/** Bundles are a few KiB; anything near this is not a signature. */
export const MAX_BUNDLE_BYTES = 256 << 10;
/** The predicate of `cosign sign` statements: the only in-toto statement that is an image signature. */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';
/** cosign's referrer annotation naming the statement's predicate type (unsigned: only a hint). */
export const ANNOTATION_BUNDLE_PREDICATE_TYPE = 'dev.sigstore.bundle.predicateType';

export function isBundleMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && BUNDLE_MEDIA_TYPES.includes(mediaType);
}

export interface AcceptedSigstoreBundle {
  readonly signer: SignerDescription;
  /** The manifest digest the bundle binds (in-toto subject, or the simple-signing payload's). */
  readonly manifestDigest: Digest;
  /**
   * Present when the bundle signs a cosign simple-signing payload; absent for an in-toto
   * statement, which binds only the digest (accepted only when the expectations allow that).
   */
  readonly payload?: SigstorePayload;
  /** The in-toto predicate type when the bundle holds a DSSE statement. */
  readonly predicateType?: string;
}

/** A statement of another predicate type (provenance, SBOM, scan) is about an image, not its signature. */
export function attestationNotSignature(predicateType: string | undefined): SigstoreError {
  return new SigstoreError(
    'SIGSTORE_NOT_A_SIGNATURE',
    `sigstore bundle: an attestation (predicate type ${JSON.stringify(predicateType ?? null)}), not a signature (${COSIGN_SIGN_PREDICATE_TYPE})`,
  );
}

function invalid(detail: string, cause?: unknown): SigstoreError {
  return new SigstoreError('SIGSTORE_BUNDLE_INVALID', `sigstore bundle: ${detail}`, { cause });
}

// sigstore-js is some 60 modules: loaded when a bundle is first verified, not by every command
// that imports the signature layer (copy, sync, inspect).
interface SigstoreJs {
  readonly bundleFromJSON: typeof import('@sigstore/bundle').bundleFromJSON;
  readonly TrustedRoot: typeof import('@sigstore/protobuf-specs').TrustedRoot;
  readonly toSignedEntity: typeof import('@sigstore/verify').toSignedEntity;
  readonly toTrustMaterial: typeof import('@sigstore/verify').toTrustMaterial;
  readonly Verifier: typeof import('@sigstore/verify').Verifier;
}
let sigstoreJs: Promise<SigstoreJs> | undefined;
function loadSigstoreJs(): Promise<SigstoreJs> {
  sigstoreJs ??= Promise.all([
    import('@sigstore/bundle'),
    import('@sigstore/protobuf-specs'),
    import('@sigstore/verify'),
  ]).then(([bundle, specs, verify]) => ({
    bundleFromJSON: bundle.bundleFromJSON,
    TrustedRoot: specs.TrustedRoot,
    toSignedEntity: verify.toSignedEntity,
    toTrustMaterial: verify.toTrustMaterial,
    Verifier: verify.Verifier,
  }));
  return sigstoreJs;
}

/**
 * A bundle of at most `maxBytes`. Signature bundles (a few KiB) go through the strict parser;
 * attestation bundles, which can hold an SBOM, through the bounded one (./intoto.ts).
 */
function parseBundle(js: SigstoreJs, bytes: Uint8Array, attestationCap?: number): Bundle {
  const maxBytes = attestationCap ?? MAX_BUNDLE_BYTES;
  if (bytes.length > maxBytes) {
    throw new SigstoreError('SIGSTORE_BUNDLE_TOO_LARGE', `sigstore bundle: larger than ${maxBytes} bytes`);
  }
  let doc: JsonValue;
  try {
    doc =
      attestationCap === undefined
        ? parseStrictJson(bytes)
        : (parseBoundedJson(bytes, { maxBytes, maxDepth: 16 }, 'sigstore bundle') as JsonValue);
  } catch (err) {
    throw invalid((err as Error).message, err);
  }
  if (!isJsonObject(doc)) throw invalid('expected a json object');
  if (typeof doc.mediaType !== 'string' || !isBundleMediaType(doc.mediaType)) {
    throw invalid(`unsupported media type ${JSON.stringify(doc.mediaType)}`);
  }
  try {
    return js.bundleFromJSON(doc);
  } catch (err) {
    throw invalid((err as Error).message, err);
  }
}

const EMPTY_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/**
 * The trusted root for a requirement: the configured trusted_root.json, or for key requirements one
 * built from the Rekor keys (Rekor's log ID is the SHA-256 of its key's DER).
 */
function trustedRootFor(
  js: SigstoreJs,
  trust: Extract<SigstoreTrust, { kind: 'keys' | 'fulcio' }>,
): TrustedRoot {
  if (trust.trustedRoot !== undefined) return js.TrustedRoot.fromJSON(trust.trustedRoot);
  if (trust.kind === 'fulcio') throw invalid('verifying bundles with fulcio trust requires a trusted root');
  const tlogs = (trust.rekorKeys ?? []).map((k) => ({
    baseUrl: 'https://rekor.invalid',
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: Buffer.from(k.spki).toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256' },
    logId: { keyId: createHash('sha256').update(k.spki).digest('base64') },
  }));
  return js.TrustedRoot.fromJSON({ ...EMPTY_ROOT, tlogs });
}

function runVerifier(
  js: SigstoreJs,
  verifier: Verifier,
  bundle: Bundle,
  artifact: Uint8Array | undefined,
): void {
  try {
    verifier.verify(js.toSignedEntity(bundle, artifact ? Buffer.from(artifact) : undefined));
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw invalid(`verification failed${code ? ` (${code})` : ''}: ${(err as Error).message}`, err);
  }
}

function verifySignature(
  js: SigstoreJs,
  trust: SigstoreTrust,
  bundle: Bundle,
  artifact: Uint8Array | undefined,
): SignerDescription {
  if (trust.kind === 'pki') throw invalid('pki requirements do not apply to sigstore bundles');
  const root = trustedRootFor(js, trust);
  const withTlog = trust.kind === 'fulcio' || trust.rekorKeys !== undefined;
  // A tlog entry's integrated time is the timestamp; SCTs are not required, as upstream does not check them.
  const options = {
    tlogThreshold: withTlog ? 1 : 0,
    ctlogThreshold: 0,
    timestampThreshold: withTlog ? 1 : 0,
  };
  if (trust.kind === 'keys') {
    let lastError: unknown;
    for (const key of trust.keys) {
      const material = js.toTrustMaterial(root, () => ({ publicKey: key.key, validFor: () => true }));
      try {
        runVerifier(js, new js.Verifier(material, options), bundle, artifact);
        return { kind: 'key', source: key.source };
      } catch (err) {
        lastError = err;
      }
    }
    const cause = (lastError as { cause?: { code?: string } } | undefined)?.cause;
    if (cause?.code === 'SIGNATURE_ERROR') {
      throw new SigstoreError(
        'SIGSTORE_SIGNATURE_INVALID',
        `sigstore bundle: not signed by any of ${trust.keys.length} trusted keys`,
        { cause: lastError },
      );
    }
    throw lastError ?? invalid('no trusted keys');
  }
  runVerifier(js, new js.Verifier(js.toTrustMaterial(root), options), bundle, artifact);
  // sigstore-js verified the chain; the identity is read as for attachments (every SAN, both
  // issuer extensions and their agreement), not from its single-SAN summary.
  const leaf = parseCertificateDer(leafCertificate(bundle), 'sigstore bundle certificate');
  const issuer = checkFulcioIdentity(trust, leaf, 'sigstore bundle');
  return { kind: 'certificate', emails: leaf.san.emails, uris: leaf.san.uris, issuer };
}

function leafCertificate(bundle: Bundle): Uint8Array {
  const material = bundle.verificationMaterial.content;
  switch (material.$case) {
    case 'certificate':
      return material.certificate.rawBytes;
    case 'x509CertificateChain': {
      const first = material.x509CertificateChain.certificates[0];
      if (first === undefined) throw invalid('empty certificate chain');
      return first.rawBytes;
    }
    default:
      throw invalid('expected a certificate in the verification material');
  }
}

function statementSubjects(payload: Buffer): { digests: string[]; predicateType: string | undefined } {
  let statement: ReturnType<typeof parseStatement>;
  try {
    statement = parseStatement(payload, { maxBytes: MAX_BUNDLE_BYTES, maxDepth: MAX_STATEMENT_DEPTH });
  } catch (err) {
    throw invalid((err as Error).message, err);
  }
  return { digests: subjectDigests(statement), predicateType: statement.predicateType };
}

/**
 * Verifies a bundle holding a DSSE envelope (an attestation) against the requirement's trust and
 * returns the envelope with who signed it. The payload is not interpreted here.
 */
export async function verifyDsseBundle(
  trust: SigstoreTrust,
  bundleBytes: Uint8Array,
  maxBytes: number,
): Promise<{ readonly envelope: DsseEnvelope; readonly signer: SignerDescription }> {
  const js = await loadSigstoreJs();
  const bundle = parseBundle(js, bundleBytes, maxBytes);
  const content = bundle.content;
  if (content.$case !== 'dsseEnvelope') {
    throw new SigstoreError(
      'SIGSTORE_NOT_AN_ATTESTATION',
      'sigstore bundle: a message signature, not a dsse attestation',
    );
  }
  const signer = verifySignature(js, trust, bundle, undefined);
  const e = content.dsseEnvelope;
  return {
    envelope: {
      payloadType: e.payloadType,
      payload: Buffer.from(e.payload),
      signatures: e.signatures.map((s) => ({ keyid: s.keyid, sig: Buffer.from(s.sig) })),
    },
    signer,
  };
}

/**
 * Verifies a bundle against the requirement's trust, then binds it to the image. A DSSE in-toto
 * statement counts only with cosign's signature predicate (attestations are not signatures), must
 * list the manifest digest as a subject, and names no docker reference: it passes the identity
 * step only when `expectations.acceptsDigestOnly` says so. A message signature must be over
 * `simpleSigningPayload`, a cosign payload checked exactly as an attachment's is.
 */
export async function verifySigstoreBundle(
  trust: SigstoreTrust,
  bundleBytes: Uint8Array,
  expectations: SigstoreExpectations,
  simpleSigningPayload?: Uint8Array,
): Promise<AcceptedSigstoreBundle> {
  const js = await loadSigstoreJs();
  const bundle = parseBundle(js, bundleBytes);
  const content = bundle.content;
  if (content.$case === 'dsseEnvelope') {
    if (content.dsseEnvelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
      throw invalid(`unsupported dsse payload type ${JSON.stringify(content.dsseEnvelope.payloadType)}`);
    }
    const { digests, predicateType } = statementSubjects(content.dsseEnvelope.payload);
    if (predicateType !== COSIGN_SIGN_PREDICATE_TYPE) throw attestationNotSignature(predicateType);
    const signer = verifySignature(js, trust, bundle, undefined);
    for (const d of digests) {
      if (!(await expectations.matchesManifestDigest(d as Digest))) continue;
      if (expectations.acceptsDigestOnly !== true) {
        throw new SigstoreError(
          'SIGSTORE_IDENTITY_MISSING',
          'sigstore bundle: the signature binds only the manifest digest and names no docker reference for signedIdentity to match',
        );
      }
      return { signer, manifestDigest: d as Digest, predicateType };
    }
    throw new SigstoreError(
      'SIGSTORE_DIGEST_MISMATCH',
      `sigstore bundle: no statement subject matches the image manifest (subjects ${digests.join(', ') || 'none'})`,
    );
  }
  if (simpleSigningPayload === undefined) {
    throw invalid('a message-signature bundle needs the signed payload, which was not found');
  }
  const signer = verifySignature(js, trust, bundle, simpleSigningPayload);
  const payload = parseSigstorePayload(simpleSigningPayload);
  await checkPayloadBinding(payload, expectations);
  return { signer, manifestDigest: payload.dockerManifestDigest, payload };
}
