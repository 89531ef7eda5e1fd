// Break-glass exceptions (ImageTrustException, portcullis.dev/v1alpha1): images of one namespace
// admitted without verification, for a reason, by an owner, until an expiry at most
// MAX_EXCEPTION_DAYS after the object was created. The CRD's CEL rules refuse a longer one at
// apply time; this model checks again, against the API server's creationTimestamp, so an
// object that got past an older CRD cannot outlive the bound either.
import {
  type DockerReference,
  dockerReferenceNamespaces,
  isDigest,
  parseNormalizedNamed,
} from '../image/index.ts';

export const EXCEPTION_KIND = 'ImageTrustException';
export const EXCEPTION_PLURAL = 'imagetrustexceptions';
export const MAX_EXCEPTION_DAYS = 7;
export const MAX_EXCEPTION_MS = MAX_EXCEPTION_DAYS * 24 * 3_600_000;
export const MAX_EXCEPTION_IMAGES = 32;

/** One image pattern: a policy.json docker scope, and optionally the one digest it allows. */
export interface ExceptionImage {
  /** `host[:port]`, `host/namespace`, `host/repo`, `host/repo:tag`, or `*.domain`, as policy.json scopes. */
  readonly scope: string;
  readonly digest?: string;
}

export interface TrustException {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly images: readonly ExceptionImage[];
  readonly reason: string;
  readonly owner: string;
  /** epoch ms: creationTimestamp + expiresAfter */
  readonly expiresAt: number;
}

/** What an exception object amounts to at `now`. */
export type ExceptionState =
  | { readonly kind: 'active'; readonly exception: TrustException }
  | { readonly kind: 'expired'; readonly exception: TrustException }
  | { readonly kind: 'invalid'; readonly message: string };

const DURATION_UNITS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000 };

/** Go durations in h, m, s (what CEL's duration() reads): `72h`, `36h30m`. */
export function parseExpiresAfter(text: string): number | undefined {
  const parts = [...text.matchAll(/(\d+)(h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return undefined;
  return parts.reduce((ms, p) => ms + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0);
}

function text(value: unknown, max: number): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= max ? value : undefined;
}

/**
 * Reads an exception object as the API server serves it. Anything out of bounds is `invalid`
 * (and never matches); an expiry passed is `expired`.
 */
export function exceptionState(obj: unknown, now: number): ExceptionState {
  const o = (obj ?? {}) as {
    metadata?: { name?: unknown; namespace?: unknown; uid?: unknown; creationTimestamp?: unknown };
    spec?: { images?: unknown; reason?: unknown; owner?: unknown; expiresAfter?: unknown };
  };
  const invalid = (message: string): ExceptionState => ({ kind: 'invalid', message });
  const name = text(o.metadata?.name, 253);
  const namespace = text(o.metadata?.namespace, 63);
  const created =
    typeof o.metadata?.creationTimestamp === 'string' ? Date.parse(o.metadata.creationTimestamp) : Number.NaN;
  if (name === undefined || namespace === undefined || Number.isNaN(created))
    return invalid('metadata is incomplete');
  const reason = text(o.spec?.reason, 1024);
  const owner = text(o.spec?.owner, 256);
  if (reason === undefined) return invalid('spec.reason is required (1 to 1024 characters)');
  if (owner === undefined) return invalid('spec.owner is required (1 to 256 characters)');
  const after = typeof o.spec?.expiresAfter === 'string' ? parseExpiresAfter(o.spec.expiresAfter) : undefined;
  if (after === undefined || after <= 0 || after > MAX_EXCEPTION_MS) {
    return invalid(`spec.expiresAfter must be a duration such as 72h, at most ${MAX_EXCEPTION_DAYS * 24}h`);
  }
  const list = o.spec?.images;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_EXCEPTION_IMAGES) {
    return invalid(`spec.images must list 1 to ${MAX_EXCEPTION_IMAGES} images`);
  }
  const images: ExceptionImage[] = [];
  for (const [i, entry] of list.entries()) {
    const e = (entry ?? {}) as { scope?: unknown; digest?: unknown };
    const scope = text(e.scope, 512);
    if (scope === undefined || /\s/.test(scope)) return invalid(`spec.images[${i}].scope is required`);
    if (e.digest !== undefined && (typeof e.digest !== 'string' || !isDigest(e.digest))) {
      return invalid(`spec.images[${i}].digest is not a digest`);
    }
    images.push({ scope, ...(e.digest === undefined ? {} : { digest: e.digest }) });
  }
  const exception: TrustException = {
    namespace,
    name,
    uid: typeof o.metadata?.uid === 'string' ? o.metadata.uid : '',
    images,
    reason,
    owner,
    expiresAt: created + after,
  };
  return { kind: now < exception.expiresAt ? 'active' : 'expired', exception };
}

/**
 * Whether `exception` covers `ref` (as the pod names it): the scope is the reference's
 * `name:tag` or one of its policy namespaces; with a digest, the pod must name that digest.
 */
export function exceptionCovers(exception: TrustException, ref: DockerReference): boolean {
  const identity = ref.tag === undefined ? undefined : `${ref.name()}:${ref.tag}`;
  const scopes = dockerReferenceNamespaces(ref);
  return exception.images.some(
    (image) =>
      (image.scope === identity || scopes.includes(image.scope)) &&
      (image.digest === undefined || image.digest === ref.digest),
  );
}

/** The exceptions in force, as the webhook asks them (src/kube watches the objects). */
export interface ExceptionSource {
  /** Whether `namespace` has any exception object at all (cheap: asked for every admission). */
  has(namespace: string): boolean;
  /** The active exception of `namespace` covering `ref`, if any; never throws. */
  covering(namespace: string, ref: DockerReference): TrustException | undefined;
  /** Tells that `exception` admitted `image` (an Event, rate-limited); never throws. */
  used(exception: TrustException, image: string): void;
}

/** The active exception of `namespace` covering the pod image string `image`, if any. */
export function exceptionFor(
  source: ExceptionSource,
  namespace: string,
  image: string,
): TrustException | undefined {
  if (!source.has(namespace)) return undefined;
  let ref: DockerReference;
  try {
    ref = parseNormalizedNamed(image);
  } catch {
    return undefined;
  }
  return source.covering(namespace, ref.digest === undefined ? ref.tagNameOnly() : ref);
}
