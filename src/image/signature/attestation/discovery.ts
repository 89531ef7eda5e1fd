// Finding the attestations of one manifest digest where cosign and sigstore put them: cosign's
// `sha256-<hex>.att` attachment (v2; one DSSE envelope per layer) and sigstore bundles among the
// OCI 1.1 referrers (cosign v3's default; the referrers API or its tag-schema fallback, as the
// source lists them). Each is verified (./verify.ts); the result keeps every verified attestation
// of the required predicate type, and says in one line per place what was found there.
import type { Digest } from '../../digest.ts';
import type { ImageSource, ReferrerDescriptor } from '../../types.ts';
import {
  ANNOTATION_BUNDLE_PREDICATE_TYPE,
  DSSE_ENVELOPE_MEDIA_TYPE,
  isBundleMediaType,
  readBlobCapped,
  referrerManifest,
  SigstoreError,
  type SigstoreTrust,
  why,
} from '../sigstore/index.ts';
import {
  type AttestationExpectations,
  MAX_STATEMENT_BYTES,
  maxEnvelopeBytes,
  type VerifiedAttestation,
  verifyAttestationBundle,
  verifyAttestationLayer,
} from './verify.ts';

/** cosign's `.att` layer annotation naming the statement's predicate type (unsigned: a hint). */
export const ANNOTATION_ATT_PREDICATE_TYPE = 'predicateType';
/** Attestations of the required type verified at most per place; the rest are counted, unread. */
export const MAX_ATTESTATIONS_EXAMINED = 16;

export type AttestationLocation =
  | { readonly via: 'attachment'; readonly tag: string; readonly layer: Digest }
  | { readonly via: 'referrer'; readonly referrer: Digest };

export interface FoundAttestation extends VerifiedAttestation {
  readonly location: AttestationLocation;
}

export interface AttestationRejection {
  readonly location: AttestationLocation;
  /** SigstoreError code, or undefined for a failure to read. */
  readonly code: string | undefined;
  readonly reason: string;
}

export interface AttestationDiscovery {
  /** Verified attestations of the required type, in the order found (`.att` first). */
  readonly verified: readonly FoundAttestation[];
  /** Attestations of the required type (by their unsigned hint, or unhinted) that failed. */
  readonly rejected: readonly AttestationRejection[];
  /** One line per place probed, e.g. "tag sha256-….att: 2 attestations (1 verified, 1 of another type)". */
  readonly probes: readonly string[];
  /** Something could not be read (maybe temporarily): a denial then is undecided. */
  readonly incomplete: boolean;
}

/** "sha256-<hex>.att (layer sha256:…)" and the like, for denials. */
export function describeLocation(l: AttestationLocation): string {
  return l.via === 'attachment' ? `tag ${l.tag} layer ${l.layer}` : `referrer ${l.referrer}`;
}

interface Tally {
  verified: number;
  otherType: number;
  rejected: string[];
  notExamined: number;
}

function summary(what: string, total: number, t: Tally): string {
  const parts = [
    ...(t.verified ? [`${t.verified} verified`] : []),
    ...(t.rejected.length ? [`${t.rejected.length} rejected (${[...new Set(t.rejected)].join('; ')})`] : []),
    ...(t.otherType ? [`${t.otherType} of another predicate type`] : []),
    ...(t.notExamined ? [`${t.notExamined} not examined (limit reached)`] : []),
  ];
  return `${total} ${what}${total === 1 ? '' : 's'}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

function failure(err: unknown): { code: string | undefined; reason: string; unreadable: boolean } {
  if (err instanceof SigstoreError) return { code: err.code, reason: why(err), unreadable: false };
  return {
    code: undefined,
    reason: `error: ${err instanceof Error ? err.message : String(err)}`,
    unreadable: true,
  };
}

type Found = { verified: FoundAttestation[]; rejected: AttestationRejection[]; probes: string[] };

/**
 * Verifies the candidates of one place in order: skipped unread when their unsigned hint names
 * another predicate type, at most MAX_ATTESTATIONS_EXAMINED read. `verify` resolves undefined for
 * one that turns out to be of another type.
 */
async function examine<T>(
  candidates: readonly T[],
  e: AttestationExpectations,
  out: Found,
  c: {
    readonly ofAnotherType: (candidate: T) => boolean;
    readonly location: (candidate: T) => AttestationLocation;
    readonly verify: (candidate: T, cap: number) => Promise<VerifiedAttestation | undefined>;
  },
): Promise<{ tally: Tally; unreadable: boolean }> {
  const tally: Tally = { verified: 0, otherType: 0, rejected: [], notExamined: 0 };
  let unreadable = false;
  const cap = maxEnvelopeBytes(e.maxStatementBytes ?? MAX_STATEMENT_BYTES);
  for (const candidate of candidates) {
    if (c.ofAnotherType(candidate)) {
      tally.otherType++;
      continue;
    }
    if (tally.verified + tally.rejected.length >= MAX_ATTESTATIONS_EXAMINED) {
      tally.notExamined++;
      continue;
    }
    const location = c.location(candidate);
    try {
      const verified = await c.verify(candidate, cap);
      if (verified === undefined) tally.otherType++;
      else {
        out.verified.push({ ...verified, location });
        tally.verified++;
      }
    } catch (err) {
      const f = failure(err);
      // A signature bundle, or a statement of another type than its hint said: not one of ours.
      if (f.code === 'SIGSTORE_PREDICATE_TYPE_MISMATCH' || f.code === 'SIGSTORE_NOT_AN_ATTESTATION') {
        tally.otherType++;
        continue;
      }
      unreadable ||= f.unreadable;
      out.rejected.push({ location, code: f.code, reason: f.reason });
      tally.rejected.push(f.reason);
    }
  }
  return { tally, unreadable };
}

async function probeAttachment(
  source: ImageSource,
  trust: SigstoreTrust,
  e: AttestationExpectations,
  out: Found,
): Promise<boolean> {
  const tag = `${e.digest.replace(':', '-')}.att`;
  if (source.getAttestationLayers === undefined) {
    out.probes.push(`tag ${tag}: not supported by this transport`);
    return false;
  }
  let layers: ReferrerDescriptor[];
  try {
    layers = await source.getAttestationLayers(e.digest);
  } catch (err) {
    out.probes.push(`tag ${tag}: ${failure(err).reason}`);
    return true;
  }
  if (layers.length === 0) {
    out.probes.push(`tag ${tag}: no attestations`);
    return false;
  }
  const { tally, unreadable } = await examine(layers, e, out, {
    ofAnotherType: (layer) => {
      const hint = layer.annotations?.[ANNOTATION_ATT_PREDICATE_TYPE];
      return layer.mediaType !== DSSE_ENVELOPE_MEDIA_TYPE || (hint !== undefined && hint !== e.predicateType);
    },
    location: (layer) => ({ via: 'attachment', tag, layer: layer.digest }),
    verify: async (layer, cap) => {
      const bytes = await readBlobCapped(source, layer, cap, 'SIGSTORE_STATEMENT_TOO_LARGE');
      return verifyAttestationLayer(trust, bytes, layer.annotations ?? {}, e);
    },
  });
  out.probes.push(`tag ${tag}: ${summary('attestation', layers.length, tally)}`);
  return unreadable;
}

async function probeReferrers(
  source: ImageSource,
  trust: SigstoreTrust,
  e: AttestationExpectations,
  out: Found,
): Promise<boolean> {
  if (source.listReferrers === undefined) {
    out.probes.push('referrers: not supported by this transport');
    return false;
  }
  let referrers: ReferrerDescriptor[];
  try {
    referrers = await source.listReferrers(e.digest);
  } catch (err) {
    out.probes.push(`referrers: ${failure(err).reason}`);
    return true;
  }
  const bundles = referrers.filter((r) => isBundleMediaType(r.artifactType ?? r.mediaType));
  if (bundles.length === 0) {
    out.probes.push(
      `referrers: ${referrers.length === 0 ? 'none' : `no sigstore bundles (${referrers.length} other artifacts)`}`,
    );
    return false;
  }
  const otherHint = (annotations: Readonly<Record<string, string>> | undefined) => {
    const hint = annotations?.[ANNOTATION_BUNDLE_PREDICATE_TYPE];
    return hint !== undefined && hint !== e.predicateType;
  };
  const { tally, unreadable } = await examine(bundles, e, out, {
    ofAnotherType: (r) => otherHint(r.annotations),
    location: (r) => ({ via: 'referrer', referrer: r.digest }),
    verify: async (r, cap) => {
      const manifest = await referrerManifest(source, r);
      if (otherHint(manifest.annotations)) return undefined;
      const layer = manifest.layers.find((l) => isBundleMediaType(l.mediaType));
      if (layer === undefined)
        throw new SigstoreError('SIGSTORE_BUNDLE_INVALID', 'referrer has no bundle layer');
      const bytes = await readBlobCapped(source, layer, cap, 'SIGSTORE_STATEMENT_TOO_LARGE');
      return verifyAttestationBundle(trust, bytes, e);
    },
  });
  out.probes.push(`referrers: ${summary('sigstore bundle', bundles.length, tally)}`);
  return unreadable;
}

/**
 * Every attestation of `expectations.digest` with the required predicate type that `trust`
 * verifies. `source` is the image's repository. Never throws for what a registry serves.
 * `sufficient`, when it approves the attestations verified in the `.att` attachment, saves
 * reading the referrers.
 */
export async function discoverAttestations(
  source: ImageSource,
  trust: SigstoreTrust,
  expectations: AttestationExpectations,
  sufficient?: (verified: readonly FoundAttestation[]) => boolean,
): Promise<AttestationDiscovery> {
  const out = {
    verified: [] as FoundAttestation[],
    rejected: [] as AttestationRejection[],
    probes: [] as string[],
  };
  const a = await probeAttachment(source, trust, expectations, out);
  if (sufficient?.(out.verified) === true) {
    out.probes.push('referrers: not read (an attestation above met the requirement)');
    return { ...out, incomplete: a };
  }
  const r = await probeReferrers(source, trust, expectations, out);
  return { ...out, incomplete: a || r };
}
