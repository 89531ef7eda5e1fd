// The real Resolver: one HEAD per tag through a transport-provided lookup, with the
// admission's pull credentials; pod image strings qualified as the node's runtime does.
import type { Digest, DockerReference, SystemContext } from '../image/index.ts';
import type { CheckObserver, PullCredentials, Resolver } from './types.ts';

/** Resolves `ref`'s tag to a manifest digest (HEAD, mirrors first); the docker transport provides it. */
export type DigestLookup = (ref: DockerReference, ctx: SystemContext) => Promise<Digest>;

/** A pod image string -> the references the node may pull, in order; the docker transport provides it. */
export type ImageQualifier = (image: string, ctx: SystemContext) => Promise<readonly DockerReference[]>;

export class RegistryResolver implements Resolver {
  readonly #lookup: DigestLookup;
  readonly #context: SystemContext;
  /** Only with a qualifier: without one, images normalize to docker.io as containerd pulls them. */
  readonly qualify?: (image: string) => Promise<readonly DockerReference[]>;

  constructor(lookup: DigestLookup, context: SystemContext, qualifier?: ImageQualifier) {
    this.#lookup = lookup;
    this.#context = context;
    if (qualifier !== undefined) this.qualify = (image) => qualifier(image, context);
  }

  async resolve(
    ref: DockerReference,
    credentials: PullCredentials,
    signal: AbortSignal,
    observer: CheckObserver,
    deadline?: number,
  ): Promise<Digest> {
    try {
      const digest = await this.#lookup(ref, {
        ...this.#context,
        dockerConfigJson: credentials.dockerConfigJson,
        signal,
        ...(deadline === undefined ? {} : { deadline }),
      });
      observer.registryRequest('200');
      return digest;
    } catch (err) {
      observer.registryRequest(registryStatus(err));
      throw err;
    }
  }
}

/** The metrics label of a failed registry exchange: its HTTP status, or `error` when there was none. */
export function registryStatus(err: unknown): string {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? String(status) : 'error';
}

/** Whether a registry failure says the image is not there (so a puller would try its next candidate). */
export function isAbsent(err: unknown): boolean {
  const { status, code } = (err ?? {}) as { status?: unknown; code?: unknown };
  return status === 404 || code === 'MANIFEST_UNKNOWN' || code === 'NAME_UNKNOWN';
}

const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'NETWORK',
  'TIMEOUT',
  'SERVER_ERROR',
  'TOOMANYREQUESTS',
  'SHORT_BODY',
]);

/**
 * Whether a registry failure may pass by itself: refused or reset connections, timeouts, 5xx
 * and 429 (after whatever retries the deadline allowed). Authentication, TLS, "not found" and
 * malformed answers are definite: a last-known-good record never stands in for them.
 */
export function isTransient(err: unknown): boolean {
  // Errors wrapped with context keep their code; the status may sit on a cause.
  let e = err as { status?: unknown; code?: unknown; temporary?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e !== undefined && e !== null && depth < 8; depth++, e = e.cause as typeof e) {
    if (typeof e.status === 'number') return e.status >= 500 || e.status === 429 || e.status === 408;
    if (e.temporary === true || (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code))) return true;
  }
  return false;
}
