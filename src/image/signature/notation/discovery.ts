// Finding the Notation signatures of an image: OCI 1.1 referrers of artifact type
// application/vnd.cncf.notary.signature, through the transport's referrers listing (the
// referrers API, or the `sha256-<hex>` tag-schema index where the registry has none). Each is a
// signature manifest with one envelope layer; they are tried in order, bounded, until one is
// accepted, and every attempt is reported.
import type { Digest } from '../../digest.ts';
import { parseManifest } from '../../manifest/index.ts';
import type { ImageSource, ReferrerDescriptor } from '../../types.ts';
import { readReferrerBlob } from '../referrer-blob.ts';
import { COSE_MEDIA_TYPE, JWS_MEDIA_TYPE, MAX_ENVELOPE_BYTES } from './envelope.ts';
import { NotationError } from './errors.ts';
import type { NotationTrust } from './trust.ts';
import { type AcceptedNotationSignature, type NotationTarget, verifyNotationSignature } from './verify.ts';

export const NOTATION_ARTIFACT_TYPE = 'application/vnd.cncf.notary.signature';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** Signature manifests examined at most per image (notation's own limit is configurable, 100 by default). */
export const DEFAULT_MAX_NOTATION_SIGNATURES = 16;

export interface NotationAttempt {
  /** The signature manifest's digest. */
  readonly referrer: Digest;
  /** The envelope media type, once known. */
  readonly envelope?: string;
  readonly accepted: boolean;
  readonly code?: string;
  readonly reason?: string;
  /** Set on the accepted signature. */
  readonly signature?: AcceptedNotationSignature;
}

export interface NotationDiscovery {
  readonly accepted: (AcceptedNotationSignature & { readonly referrer: Digest }) | undefined;
  readonly attempts: readonly NotationAttempt[];
  /** e.g. "referrers: 2 notation signatures (1 rejected: certificate from an untrusted CA)". */
  readonly probes: readonly string[];
  /** Something could not be read (not rejected): a registry or network failure, maybe temporary. */
  readonly incomplete: boolean;
}

export interface NotationDiscoveryOptions {
  readonly maxSignatures?: number;
  readonly now?: Date;
}

function malformedReferrer(detail: string): NotationError {
  return new NotationError('NOTATION_ENVELOPE_MALFORMED', `signature manifest: ${detail}`);
}

/** The envelope layer of a Notation signature manifest about `subject`. */
async function envelopeOf(
  source: ImageSource,
  referrer: ReferrerDescriptor,
  subject: Digest,
): Promise<{ mediaType: string; bytes: Buffer }> {
  if (referrer.mediaType !== OCI_MANIFEST)
    throw malformedReferrer(`unexpected media type ${referrer.mediaType}`);
  const { manifest, mimeType } = await source.getManifest(referrer.digest);
  const parsed = parseManifest(manifest, mimeType);
  if (parsed.kind !== 'oci') throw malformedReferrer('not an OCI image manifest');
  if (parsed.artifactType !== NOTATION_ARTIFACT_TYPE && parsed.config.mediaType !== NOTATION_ARTIFACT_TYPE)
    throw malformedReferrer('not a Notation signature');
  if (parsed.subject?.digest !== subject)
    throw malformedReferrer(`its subject is ${parsed.subject?.digest ?? 'missing'}, not ${subject}`);
  if (parsed.layers.length !== 1) throw malformedReferrer(`expected one layer, got ${parsed.layers.length}`);
  const layer = parsed.layers[0]!;
  if (layer.mediaType !== JWS_MEDIA_TYPE && layer.mediaType !== COSE_MEDIA_TYPE)
    throw new NotationError(
      'NOTATION_UNSUPPORTED_ENVELOPE',
      `unsupported signature envelope media type ${JSON.stringify(layer.mediaType).slice(0, 100)}`,
    );
  const bytes = await readReferrerBlob(source, layer, MAX_ENVELOPE_BYTES, (failure, message) =>
    failure === 'TOO_LARGE'
      ? new NotationError('NOTATION_TOO_LARGE', message)
      : new NotationError('NOTATION_ENVELOPE_MALFORMED', message),
  );
  return { mediaType: layer.mediaType, bytes };
}

/** Short words for a rejection, for the one-line probe summary. */
export function notationReason(code: string | undefined): string {
  switch (code) {
    case 'NOTATION_DIGEST_MISMATCH':
      return 'signature for another image';
    case 'NOTATION_UNTRUSTED':
      return 'certificate from an untrusted CA';
    case 'NOTATION_IDENTITY_MISMATCH':
      return 'signed by another identity';
    case 'NOTATION_CERTIFICATE_EXPIRED':
      return 'certificate outside its validity';
    case 'NOTATION_EXPIRED':
      return 'signature expired';
    case 'NOTATION_SIGNATURE_INVALID':
      return 'signature does not verify';
    case 'NOTATION_TIMESTAMP_INVALID':
      return 'timestamp not accepted';
    case 'NOTATION_REVOCATION_UNKNOWN':
      return 'revocation status unknown';
    case undefined:
      return 'could not be read';
    default:
      return code
        .replace(/^NOTATION_/, '')
        .toLowerCase()
        .replaceAll('_', ' ');
  }
}

function tally(attempts: readonly NotationAttempt[]): string {
  const counts = new Map<string, number>();
  for (const a of attempts)
    if (!a.accepted) counts.set(notationReason(a.code), (counts.get(notationReason(a.code)) ?? 0) + 1);
  return [...counts].map(([r, n]) => (n === 1 ? r : `${n}× ${r}`)).join(', ');
}

/**
 * Looks for a Notation signature of `target` that `trust` accepts among the referrers of
 * `target.digest` in `source`. Never resolves with `accepted` unless verification passed at the
 * trust's level.
 */
export async function discoverNotationSignature(
  source: ImageSource,
  target: NotationTarget,
  trust: NotationTrust,
  options: NotationDiscoveryOptions = {},
): Promise<NotationDiscovery> {
  const max = options.maxSignatures ?? DEFAULT_MAX_NOTATION_SIGNATURES;
  if (source.listReferrers === undefined)
    return {
      accepted: undefined,
      attempts: [],
      probes: ['referrers: not supported by this transport'],
      incomplete: false,
    };
  let listed: ReferrerDescriptor[];
  try {
    listed = await source.listReferrers(target.digest, NOTATION_ARTIFACT_TYPE);
  } catch (err) {
    return {
      accepted: undefined,
      attempts: [],
      probes: [`referrers: error: ${err instanceof Error ? err.message : String(err)}`],
      incomplete: true,
    };
  }
  // A registry may ignore the artifactType filter.
  const signatures = listed.filter(
    (r) => (r.artifactType ?? NOTATION_ARTIFACT_TYPE) === NOTATION_ARTIFACT_TYPE,
  );
  if (signatures.length === 0)
    return {
      accepted: undefined,
      attempts: [],
      probes: ['referrers: no notation signatures'],
      incomplete: false,
    };
  const attempts: NotationAttempt[] = [];
  let incomplete = false;
  for (const referrer of signatures.slice(0, max)) {
    let envelope: string | undefined;
    try {
      const found = await envelopeOf(source, referrer, target.digest);
      envelope = found.mediaType;
      const signature = verifyNotationSignature(trust, found.mediaType, found.bytes, target, options.now);
      attempts.push({ referrer: referrer.digest, envelope, accepted: true, signature });
      return {
        accepted: { ...signature, referrer: referrer.digest },
        attempts,
        probes: [`referrers: notation signature ${referrer.digest} (${envelope}) accepted`],
        incomplete: false,
      };
    } catch (err) {
      const code = err instanceof NotationError ? err.code : undefined;
      incomplete ||= code === undefined;
      attempts.push({
        referrer: referrer.digest,
        ...(envelope === undefined ? {} : { envelope }),
        accepted: false,
        ...(code === undefined ? {} : { code }),
        reason: err instanceof Error ? err.message : String(err),
      });
    }
  }
  const n = signatures.length;
  const skipped = n > max ? `; ${n - max} not examined (limit ${max})` : '';
  return {
    accepted: undefined,
    attempts,
    probes: [`referrers: ${n} notation signature${n === 1 ? '' : 's'} (${tally(attempts)}${skipped})`],
    incomplete,
  };
}
