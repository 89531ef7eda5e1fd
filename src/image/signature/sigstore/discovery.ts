// Finding and verifying every kind of cosign/sigstore signature of one image: the cosign
// attachment tag (through ImageSource.getSignatures) and sigstore bundles attached as OCI 1.1
// referrers, optionally on the multi-arch index too. Every count and size is bounded, and when
// nothing is accepted the result says what was probed and what was found.
import type { Digest } from '../../digest.ts';
import { parseManifest } from '../../manifest/index.ts';
import type { ImageSource, ReferrerDescriptor, Signature } from '../../types.ts';
import { readReferrerBlob } from '../referrer-blob.ts';
import {
  type AcceptedSigstoreBundle,
  ANNOTATION_BUNDLE_PREDICATE_TYPE,
  attestationNotSignature,
  COSIGN_SIGN_PREDICATE_TYPE,
  isBundleMediaType,
  MAX_BUNDLE_BYTES,
  verifySigstoreBundle,
} from './bundle.ts';
import { SigstoreError, type SigstoreErrorCode } from './errors.ts';
import { SIMPLE_SIGNING_MEDIA_TYPE } from './payload.ts';
import type { SigstoreTrust } from './trust.ts';
import {
  type AcceptedSigstoreSignature,
  type SigstoreExpectations,
  verifySigstoreSignature,
} from './verify.ts';

export interface DiscoveryOptions {
  /** Signature referrers (bundles, cosign OCI 1.1 signatures) examined at most. Default 16. */
  readonly maxBundles?: number;
  /** Attachment layers verified at most. Default 64. */
  readonly maxAttachmentSignatures?: number;
  /**
   * Extension: the digest of the multi-arch index the image was chosen from. When set, signatures
   * made on the index are accepted for this instance (cosign signs the index unless --recursive).
   */
  readonly indexDigest?: Digest;
  /** The caller has already verified the attachments of `manifestDigest`: start at its referrers. */
  readonly attachmentsVerified?: boolean;
}

export type DiscoveredSignature =
  | { readonly via: 'attachment'; readonly digest: Digest; readonly accepted: AcceptedSigstoreSignature }
  | {
      readonly via: 'referrer-bundle';
      readonly digest: Digest;
      readonly referrer: Digest;
      readonly accepted: AcceptedSigstoreBundle;
    }
  /** cosign's `--registry-referrers-mode=oci-1-1`: the attachment layout, as a referrer. */
  | {
      readonly via: 'referrer-signature';
      readonly digest: Digest;
      readonly referrer: Digest;
      readonly accepted: AcceptedSigstoreSignature;
    };

export interface DiscoveryResult {
  readonly accepted: DiscoveredSignature | undefined;
  /** One line per place probed, e.g. "tag sha256-….sig: 404". */
  readonly probes: readonly string[];
  /** The probes joined, for a denial message. */
  readonly explanation: string;
  /**
   * Why each signature found was rejected, in short words (attestations and other artifacts
   * that are not signatures are not counted); empty when none was found.
   */
  readonly rejected: readonly string[];
  /** Something could not be read (not rejected): a registry or network failure, maybe temporary. */
  readonly incomplete: boolean;
}

const DEFAULTS = { maxBundles: 16, maxAttachmentSignatures: 64 };
export const COSIGN_SIGNATURE_ARTIFACT_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const MAX_REFERRER_SIGNATURE_LAYERS = 16;
const MAX_SIGNATURE_PAYLOAD_BYTES = 64 << 10;

/** The short reason discovery gives for a signature that binds only the digest. */
export const DIGEST_ONLY_REASON = 'binds only the digest, names no reference for signedIdentity';

/** Short words for why a signature or attestation was not accepted, for explanations. */
export function why(err: unknown): string {
  if (!(err instanceof SigstoreError)) return `error: ${err instanceof Error ? err.message : String(err)}`;
  switch (err.code) {
    case 'SIGSTORE_SIGNATURE_INVALID':
      return 'signed by an unknown key';
    case 'SIGSTORE_SET_SIGNATURE_INVALID':
      return 'logged by an unknown transparency log';
    case 'SIGSTORE_CERTIFICATE_UNTRUSTED':
      return 'certificate from an untrusted CA or outside its validity';
    case 'SIGSTORE_SUBJECT_MISMATCH':
    case 'SIGSTORE_OIDC_ISSUER_MISMATCH':
      return 'signed by another identity';
    case 'SIGSTORE_DIGEST_MISMATCH':
      return 'signature for another image';
    case 'SIGSTORE_IDENTITY_MISMATCH':
      return 'signed for another reference';
    case 'SIGSTORE_IDENTITY_MISSING':
      return DIGEST_ONLY_REASON;
    case 'SIGSTORE_NOT_A_SIGNATURE':
      return err.message.replace(/^sigstore bundle: /, '');
    case 'SIGSTORE_PAYLOAD_TYPE':
    case 'SIGSTORE_STATEMENT_INVALID':
    case 'SIGSTORE_STATEMENT_TOO_LARGE':
    case 'SIGSTORE_STATEMENT_TOO_DEEP':
    case 'SIGSTORE_PREDICATE_TYPE_MISMATCH':
    case 'SIGSTORE_STATEMENT_SUBJECT_MISMATCH':
      return err.message;
    default:
      return `rejected (${err.code}): ${err.message}`;
  }
}

function tally(reasons: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts].map(([r, n]) => (n === 1 ? r : `${n}× ${r}`)).join(', ');
}

/** A small blob of `source` read whole: its size bounded before and while reading, its digest checked. */
export function readBlobCapped(
  source: ImageSource,
  descriptor: { digest: Digest; size: number },
  cap = MAX_BUNDLE_BYTES,
  tooLarge: SigstoreErrorCode = 'SIGSTORE_BUNDLE_TOO_LARGE',
): Promise<Buffer> {
  return readReferrerBlob(source, descriptor, cap, (failure, message) =>
    failure === 'TOO_LARGE'
      ? new SigstoreError(tooLarge, message)
      : new SigstoreError('SIGSTORE_BUNDLE_INVALID', message),
  );
}

export async function referrerManifest(source: ImageSource, referrer: ReferrerDescriptor) {
  const { manifest, mimeType } = await source.getManifest(referrer.digest);
  const parsed = parseManifest(manifest, mimeType);
  if (parsed.kind !== 'oci')
    throw new SigstoreError('SIGSTORE_BUNDLE_INVALID', 'referrer is not an OCI manifest');
  return parsed;
}

/**
 * cosign names a bundle's predicate type in an annotation of its referrer (and the referrers index
 * copies it): one that is not the signature predicate is an attestation, skipped unread. The
 * annotation is unsigned, so a bundle that passes here is still checked by its statement.
 */
function attestationAnnotation(
  annotations: Readonly<Record<string, string>> | undefined,
): SigstoreError | undefined {
  const predicateType = annotations?.[ANNOTATION_BUNDLE_PREDICATE_TYPE];
  return predicateType === undefined || predicateType === COSIGN_SIGN_PREDICATE_TYPE
    ? undefined
    : attestationNotSignature(predicateType);
}

/** The bundle a referrer manifest carries (cosign: one layer of the bundle media type). */
async function bundleOfReferrer(source: ImageSource, referrer: ReferrerDescriptor): Promise<Buffer> {
  const parsed = await referrerManifest(source, referrer);
  const attestation = attestationAnnotation(parsed.annotations);
  if (attestation !== undefined) throw attestation;
  const layer = parsed.layers.find((l) => isBundleMediaType(l.mediaType));
  if (layer === undefined) throw new SigstoreError('SIGSTORE_BUNDLE_INVALID', 'referrer has no bundle layer');
  return readBlobCapped(source, layer);
}

/** cosign's OCI 1.1 signature referrer: one simple-signing payload per layer, as in the .sig tag. */
async function signaturesOfReferrer(source: ImageSource, referrer: ReferrerDescriptor): Promise<Signature[]> {
  const parsed = await referrerManifest(source, referrer);
  return Promise.all(
    parsed.layers.slice(0, MAX_REFERRER_SIGNATURE_LAYERS).map(async (layer) => ({
      format: 'sigstore-json' as const,
      mimeType: layer.mediaType,
      payload: await readBlobCapped(source, layer, MAX_SIGNATURE_PAYLOAD_BYTES),
      annotations: layer.annotations ?? {},
    })),
  );
}

async function verifyReferrer(
  source: ImageSource,
  digest: Digest,
  referrer: ReferrerDescriptor,
  type: string,
  trust: SigstoreTrust,
  expectations: SigstoreExpectations,
): Promise<DiscoveredSignature> {
  if (isBundleMediaType(type)) {
    const accepted = await verifySigstoreBundle(
      trust,
      await bundleOfReferrer(source, referrer),
      expectations,
    );
    return { via: 'referrer-bundle', digest, referrer: referrer.digest, accepted };
  }
  let firstError: unknown;
  for (const sig of await signaturesOfReferrer(source, referrer)) {
    try {
      const accepted = await verifySigstoreSignature(trust, sig, expectations);
      return { via: 'referrer-signature', digest, referrer: referrer.digest, accepted };
    } catch (err) {
      firstError ??= err;
    }
  }
  throw firstError ?? new SigstoreError('SIGSTORE_NOT_A_SIGNATURE', 'referrer holds no signature layers');
}

interface Probe {
  readonly accepted: DiscoveredSignature | undefined;
  readonly lines: string[];
  readonly failed?: boolean;
  /** Short reasons of the signatures rejected. */
  readonly rejected?: readonly string[];
}

/** Neither an artifact that is no signature nor one that could not be read counts as rejected. */
function isSignatureRejection(err: unknown): boolean {
  return err instanceof SigstoreError && err.code !== 'SIGSTORE_NOT_A_SIGNATURE';
}

async function probeAttachments(
  source: ImageSource,
  digest: Digest,
  instance: Digest | undefined,
  trust: SigstoreTrust,
  expectations: SigstoreExpectations,
  max: number,
): Promise<Probe> {
  const tag = `tag ${digest.replace(':', '-')}.sig`;
  let all: Signature[];
  try {
    all = await source.getSignatures(instance);
  } catch (err) {
    return {
      accepted: undefined,
      lines: [`${tag}: error: ${err instanceof Error ? err.message : String(err)}`],
      failed: true,
    };
  }
  const sigstore = all.filter((s) => s.format === 'sigstore-json');
  const signatures = sigstore.filter((s) => s.mimeType === SIMPLE_SIGNING_MEDIA_TYPE);
  if (sigstore.length === 0) return { accepted: undefined, lines: [`${tag}: no signatures`] };
  const reasons: string[] = [];
  for (const sig of signatures.slice(0, max)) {
    try {
      const accepted = await verifySigstoreSignature(trust, sig, expectations);
      return { accepted: { via: 'attachment', digest, accepted }, lines: [`${tag}: accepted`] };
    } catch (err) {
      reasons.push(why(err));
    }
  }
  const other = sigstore.length - signatures.length;
  const parts = [
    `${signatures.length} signature${signatures.length === 1 ? '' : 's'}${reasons.length ? ` (${tally(reasons)})` : ''}`,
    ...(signatures.length > max ? [`only ${max} examined`] : []),
    ...(other ? [`${other} non-signature attachment${other === 1 ? '' : 's'}`] : []),
  ];
  return { accepted: undefined, lines: [`${tag}: ${parts.join('; ')}`], rejected: reasons };
}

async function probeReferrers(
  source: ImageSource,
  digest: Digest,
  trust: SigstoreTrust,
  expectations: SigstoreExpectations,
  max: number,
): Promise<Probe> {
  if (source.listReferrers === undefined)
    return { accepted: undefined, lines: ['referrers: not supported by this transport'] };
  let referrers: ReferrerDescriptor[];
  try {
    referrers = await source.listReferrers(digest);
  } catch (err) {
    return {
      accepted: undefined,
      lines: [`referrers: error: ${err instanceof Error ? err.message : String(err)}`],
      failed: true,
    };
  }
  if (referrers.length === 0) return { accepted: undefined, lines: ['referrers: none'] };
  const byType = new Map<string, string[]>();
  const note = (type: string, reason: string) => byType.set(type, [...(byType.get(type) ?? []), reason]);
  let examined = 0;
  let failed = false;
  const rejected: string[] = [];
  for (const r of referrers) {
    const type = r.artifactType ?? r.mediaType;
    if (!isBundleMediaType(type) && type !== COSIGN_SIGNATURE_ARTIFACT_TYPE) {
      note(type, 'not a signature');
      continue;
    }
    const attestation = isBundleMediaType(type) ? attestationAnnotation(r.annotations) : undefined;
    if (attestation !== undefined) {
      note(type, why(attestation));
      continue;
    }
    if (examined >= max) {
      note(type, 'not examined (limit reached)');
      continue;
    }
    examined++;
    try {
      const accepted = await verifyReferrer(source, digest, r, type, trust, expectations);
      return { accepted, lines: [`referrers: ${type} ${r.digest} accepted`] };
    } catch (err) {
      failed ||= !(err instanceof SigstoreError);
      if (isSignatureRejection(err)) rejected.push(why(err));
      note(type, why(err));
    }
  }
  const list = [...byType].map(([type, reasons]) => `${reasons.length} of type ${type}: ${tally(reasons)}`);
  return {
    accepted: undefined,
    lines: [
      `referrers: ${referrers.length} artifact${referrers.length === 1 ? '' : 's'} (${list.join('; ')})`,
    ],
    failed,
    rejected,
  };
}

/**
 * Looks for a signature of `manifestDigest` that `trust` accepts: first the cosign attachment,
 * then bundle referrers, then (when `options.indexDigest` opts in) the same on the index.
 * `instanceDigest` is what to pass to source.getSignatures for this image (undefined for the
 * source's own image). Never resolves with `accepted` set unless verification fully passed.
 */
export async function discoverSigstoreSignature(
  source: ImageSource,
  manifestDigest: Digest,
  instanceDigest: Digest | undefined,
  trust: SigstoreTrust,
  expectations: SigstoreExpectations,
  options: DiscoveryOptions = {},
): Promise<DiscoveryResult> {
  const o = { ...DEFAULTS, ...options };
  const targets: {
    skipAttachments?: boolean;
    digest: Digest;
    instance: Digest | undefined;
    expectations: SigstoreExpectations;
    prefix: string;
  }[] = [
    {
      digest: manifestDigest,
      instance: instanceDigest,
      expectations,
      prefix: '',
      skipAttachments: o.attachmentsVerified === true,
    },
  ];
  if (o.indexDigest !== undefined) {
    const indexDigest = o.indexDigest;
    targets.push({
      digest: indexDigest,
      instance: indexDigest,
      // The signature names the index; accepting it for this instance is the opt-in.
      expectations: { ...expectations, matchesManifestDigest: (d) => d === indexDigest },
      prefix: `index ${indexDigest}: `,
    });
  }
  const probes: string[] = [];
  const rejected: string[] = [];
  let incomplete = false;
  for (const t of targets) {
    for (const probe of [
      ...(t.skipAttachments
        ? []
        : [
            () =>
              probeAttachments(
                source,
                t.digest,
                t.instance,
                trust,
                t.expectations,
                o.maxAttachmentSignatures,
              ),
          ]),
      () => probeReferrers(source, t.digest, trust, t.expectations, o.maxBundles),
    ]) {
      const result = await probe();
      probes.push(...result.lines.map((l) => t.prefix + l));
      rejected.push(...(result.rejected ?? []));
      incomplete ||= result.failed === true;
      if (result.accepted)
        return { accepted: result.accepted, probes, explanation: probes.join('; '), rejected, incomplete };
    }
  }
  return { accepted: undefined, probes, explanation: probes.join('; '), rejected, incomplete };
}
