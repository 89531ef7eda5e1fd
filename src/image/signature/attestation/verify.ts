// One attestation, verified: a DSSE envelope signed as the requirement's trust says (a cosign
// `.att` layer, or a sigstore bundle), carrying an in-toto statement about this image's digest
// with the required predicate type. Nothing here reads a registry.
import type { Digest } from '../../digest.ts';
import {
  ANNOTATION_SIGNATURE,
  DSSE_ENVELOPE_MEDIA_TYPE,
  type DsseEnvelope,
  type InTotoStatement,
  MAX_STATEMENT_DEPTH,
  parseDsseEnvelope,
  parseStatement,
  preAuthEncoding,
  requireInTotoPayload,
  type SignerDescription,
  SigstoreError,
  type SigstoreTrust,
  subjectDigests,
  verifyAttachmentSigner,
  verifyDsseBundle,
} from '../sigstore/index.ts';

/**
 * The largest statement (predicate included) read: GitHub's attest action refuses predicates over
 * 16 MiB, BuildKit attestations over 40 MiB, and SPDX SBOMs of large images reach 20 MB, most of it
 * per-file entries (docs/attestations.md, "Size and nesting").
 */
export const MAX_STATEMENT_BYTES = 16 << 20;
/** An envelope or bundle holds the statement in base64 (4/3) plus signatures and certificates. */
export function maxEnvelopeBytes(statementBytes: number): number {
  return Math.ceil((statementBytes * 4) / 3) + (64 << 10);
}

export interface AttestationExpectations {
  /** The manifest digest judged: some subject must name it. */
  readonly digest: Digest;
  readonly predicateType: string;
  /** Verification time for PKI certificates; default now. */
  readonly now?: Date;
  /** Default MAX_STATEMENT_BYTES. */
  readonly maxStatementBytes?: number;
}

export interface VerifiedAttestation {
  readonly statement: InTotoStatement;
  readonly signer: SignerDescription;
}

/** The statement of a verified envelope, held to the expectations. */
function checkStatement(envelope: DsseEnvelope, e: AttestationExpectations): InTotoStatement {
  requireInTotoPayload(envelope.payloadType);
  const statement = parseStatement(envelope.payload, {
    maxBytes: e.maxStatementBytes ?? MAX_STATEMENT_BYTES,
    maxDepth: MAX_STATEMENT_DEPTH,
  });
  const digests = subjectDigests(statement);
  if (!digests.includes(e.digest)) {
    throw new SigstoreError(
      'SIGSTORE_STATEMENT_SUBJECT_MISMATCH',
      `attestation for another image: subjects ${digests.slice(0, 4).join(', ') || 'none'}, not ${e.digest}`,
    );
  }
  if (statement.predicateType !== e.predicateType) {
    throw new SigstoreError(
      'SIGSTORE_PREDICATE_TYPE_MISMATCH',
      `predicate type ${JSON.stringify(statement.predicateType.slice(0, 200))}, not ${JSON.stringify(e.predicateType)}`,
    );
  }
  return statement;
}

/**
 * A cosign `.att` layer: the DSSE envelope's signature is checked as a `.sig` signature is (keys,
 * PKI; Fulcio and Rekor through the layer's certificate and SET annotations), over the envelope's
 * pre-authentication encoding. Every signature of the envelope is tried.
 */
export function verifyAttestationLayer(
  trust: SigstoreTrust,
  envelopeBytes: Uint8Array,
  annotations: Readonly<Record<string, string>>,
  e: AttestationExpectations,
): VerifiedAttestation {
  const envelope = parseDsseEnvelope(
    envelopeBytes,
    maxEnvelopeBytes(e.maxStatementBytes ?? MAX_STATEMENT_BYTES),
  );
  const signed = preAuthEncoding(envelope.payloadType, envelope.payload);
  let firstError: unknown;
  for (const s of envelope.signatures) {
    try {
      const { signer } = verifyAttachmentSigner(
        trust,
        {
          format: 'sigstore-json',
          mimeType: DSSE_ENVELOPE_MEDIA_TYPE,
          payload: signed,
          annotations: { ...annotations, [ANNOTATION_SIGNATURE]: s.sig.toString('base64') },
        },
        e.now ?? new Date(),
      );
      return { statement: checkStatement(envelope, e), signer };
    } catch (err) {
      if (err instanceof SigstoreError && err.code !== 'SIGSTORE_SIGNATURE_INVALID') throw err;
      firstError ??= err;
    }
  }
  throw firstError;
}

/** A sigstore bundle holding a DSSE envelope (cosign v3's `attest`), verified by sigstore-js. */
export async function verifyAttestationBundle(
  trust: SigstoreTrust,
  bundleBytes: Uint8Array,
  e: AttestationExpectations,
): Promise<VerifiedAttestation> {
  const { envelope, signer } = await verifyDsseBundle(
    trust,
    bundleBytes,
    maxEnvelopeBytes(e.maxStatementBytes ?? MAX_STATEMENT_BYTES),
  );
  return { statement: checkStatement(envelope, e), signer };
}
