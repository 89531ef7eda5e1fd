// One Notation signature envelope against one trust policy statement, in notation-go's order:
// integrity, the payload's target artifact, authenticity (trust store, then trusted identities),
// expiry, authentic timestamp, revocation. Each check is enforced, logged or skipped as the
// verification level says; a logged failure becomes a warning of the accepted signature.
import type { Digest } from '../../digest.ts';
import { certificateDn, isSubsetDn, revocationEndpoints, subjectOf, validityOf } from './certs.ts';
import { decodeCose } from './cose.ts';
import {
  COSE_MEDIA_TYPE,
  type EnvelopeContent,
  JWS_MEDIA_TYPE,
  MAX_ENVELOPE_BYTES,
  verifyDecodedEnvelope,
} from './envelope.ts';
import { NotationError } from './errors.ts';
import { decodeJws } from './jws.ts';
import { verifyTimestampToken } from './timestamp.ts';
import { fingerprintOf, type NotationTrust, type VerificationCheck } from './trust.ts';

/** The image a signature must name: its manifest's digest, size and media type. */
export interface NotationTarget {
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
}

export interface AcceptedNotationSignature {
  readonly format: 'jws' | 'cose';
  /** The signing certificate's subject. */
  readonly signer: string;
  readonly signingScheme: EnvelopeContent['signingScheme'];
  readonly signingTime: Date;
  /** Set when a timestamp countersignature was verified: the latest time it vouches for. */
  readonly timestampedBefore?: Date;
  /** Failures of logged checks, "<check>: <reason>". */
  readonly warnings: readonly string[];
}

function payloadTarget(content: EnvelopeContent): { mediaType: unknown; digest: unknown; size: unknown } {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(content.payload));
  } catch (err) {
    throw new NotationError('NOTATION_PAYLOAD_INVALID', 'payload is not JSON', { cause: err });
  }
  const target = (doc as { targetArtifact?: unknown } | null)?.targetArtifact;
  if (target === null || typeof target !== 'object' || Array.isArray(target))
    throw new NotationError('NOTATION_PAYLOAD_INVALID', 'payload has no targetArtifact descriptor');
  return target as { mediaType: unknown; digest: unknown; size: unknown };
}

function checkTarget(content: EnvelopeContent, target: NotationTarget): void {
  const t = payloadTarget(content);
  if (t.digest !== target.digest || t.size !== target.size || t.mediaType !== target.mediaType) {
    throw new NotationError(
      'NOTATION_DIGEST_MISMATCH',
      `signature is for ${String(t.digest).slice(0, 100)} (${String(t.mediaType).slice(0, 100)}, ${String(t.size).slice(0, 20)} bytes), not ${target.digest} (${target.mediaType}, ${target.size} bytes)`,
    );
  }
}

function validAt(content: EnvelopeContent, at: Date, what: string): void {
  for (const c of content.chain) {
    const v = validityOf(c);
    if (at.getTime() < v.from || at.getTime() > v.to) {
      throw new NotationError(
        'NOTATION_CERTIFICATE_EXPIRED',
        `certificate "${subjectOf(c)}" is not valid at ${what} ${at.toISOString()} (valid ${c.x509.validFromDate.toISOString()} to ${c.x509.validToDate.toISOString()})`,
      );
    }
  }
}

function authenticity(content: EnvelopeContent, trust: NotationTrust): void {
  const sa = content.signingScheme === 'notary.x509.signingAuthority';
  const store = sa ? trust.signingAuthorityFingerprints : trust.caFingerprints;
  const storeName = sa ? 'signingAuthority' : 'ca';
  if (store.size === 0)
    throw new NotationError(
      'NOTATION_UNTRUSTED',
      `no ${storeName} certificates configured for signing scheme ${content.signingScheme}`,
    );
  if (!content.chain.some((c) => store.has(fingerprintOf(c))))
    throw new NotationError(
      'NOTATION_UNTRUSTED',
      `no certificate of the chain is in the ${storeName} trust store`,
    );
}

function identity(content: EnvelopeContent, trust: NotationTrust): void {
  if (trust.identities === undefined) return;
  const dn = certificateDn(content.chain[0]!);
  if (!trust.identities.some((pattern) => isSubsetDn(pattern, dn)))
    throw new NotationError(
      'NOTATION_IDENTITY_MISMATCH',
      `signing certificate subject "${subjectOf(content.chain[0]!)}" matches no trusted identity`,
    );
}

function authenticTimestamp(
  content: EnvelopeContent,
  trust: NotationTrust,
  now: Date,
  warnings: string[],
): Date | undefined {
  if (content.signingScheme === 'notary.x509.signingAuthority') {
    validAt(content, content.signingTime, 'the authentic signing time');
    return undefined;
  }
  const expired = content.chain.some((c) => now.getTime() > validityOf(c).to);
  const stamped = trust.tsa.length > 0 && (trust.verifyTimestamp === 'always' || expired);
  if (!stamped) {
    validAt(content, now, 'verification time');
    return undefined;
  }
  if (content.timestampToken === undefined || content.timestampToken.length === 0)
    throw new NotationError('NOTATION_TIMESTAMP_INVALID', 'no timestamp countersignature in the envelope');
  const ts = verifyTimestampToken(
    content.timestampToken,
    content.signature,
    trust.tsa,
    trust.actions.revocation,
  );
  if (ts.revocationWarning !== undefined) warnings.push(`revocation: ${ts.revocationWarning}`);
  for (const c of content.chain) {
    if (
      ts.earliest.getTime() < c.x509.validFromDate.getTime() ||
      ts.latest.getTime() > c.x509.validToDate.getTime()
    )
      throw new NotationError(
        'NOTATION_CERTIFICATE_EXPIRED',
        `timestamp ${ts.earliest.toISOString()}..${ts.latest.toISOString()} is outside the validity of certificate "${subjectOf(c)}"`,
      );
  }
  return ts.latest;
}

function revocation(content: EnvelopeContent): void {
  for (const c of content.chain) {
    const endpoints = revocationEndpoints(c);
    if (endpoints.length > 0)
      throw new NotationError(
        'NOTATION_REVOCATION_UNKNOWN',
        `revocation status of certificate "${subjectOf(c)}" is unknown: it names ${endpoints.join(' and ')} endpoints, which are not contacted`,
      );
  }
}

/** Decodes and integrity-checks an envelope of `mediaType`; any failure is enforced. */
export function verifyEnvelope(mediaType: string, envelope: Uint8Array): EnvelopeContent {
  if (envelope.byteLength > MAX_ENVELOPE_BYTES)
    throw new NotationError('NOTATION_TOO_LARGE', `envelope larger than ${MAX_ENVELOPE_BYTES} bytes`);
  switch (mediaType) {
    case JWS_MEDIA_TYPE:
      return verifyDecodedEnvelope(decodeJws(envelope));
    case COSE_MEDIA_TYPE:
      return verifyDecodedEnvelope(decodeCose(envelope));
    default:
      throw new NotationError(
        'NOTATION_UNSUPPORTED_ENVELOPE',
        `unsupported signature envelope media type ${JSON.stringify(mediaType).slice(0, 100)}`,
      );
  }
}

/**
 * Verifies one envelope for `target` under `trust`. Resolves only when no enforced check failed;
 * otherwise throws the NotationError of the first enforced failure. The skip level is the
 * caller's to honour (nothing is verified then); here it is an error.
 */
export function verifyNotationSignature(
  trust: NotationTrust,
  mediaType: string,
  envelope: Uint8Array,
  target: NotationTarget,
  now: Date = new Date(),
): AcceptedNotationSignature {
  if (trust.level === 'skip')
    throw new NotationError('NOTATION_TRUST_INVALID', 'the skip level verifies nothing');
  const content = verifyEnvelope(mediaType, envelope);
  checkTarget(content, target);
  const warnings: string[] = [];
  const run = <T>(check: VerificationCheck, fn: () => T): T | undefined => {
    const action = trust.actions[check];
    if (action === 'skip') return undefined;
    try {
      return fn();
    } catch (err) {
      if (action === 'enforce' || !(err instanceof NotationError)) throw err;
      warnings.push(`${check}: ${err.message}`);
      return undefined;
    }
  };
  run('authenticity', () => {
    authenticity(content, trust);
    identity(content, trust);
  });
  run('expiry', () => {
    if (content.expiry !== undefined && now.getTime() >= content.expiry.getTime())
      throw new NotationError('NOTATION_EXPIRED', `signature expired at ${content.expiry.toISOString()}`);
  });
  const timestampedBefore = run('authenticTimestamp', () =>
    authenticTimestamp(content, trust, now, warnings),
  );
  run('revocation', () => revocation(content));
  return {
    format: content.format,
    signer: subjectOf(content.chain[0]!),
    signingScheme: content.signingScheme,
    signingTime: content.signingTime,
    ...(timestampedBefore === undefined ? {} : { timestampedBefore }),
    warnings,
  };
}
