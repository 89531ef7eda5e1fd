// The real Resolver: one HEAD per tag through a transport-provided lookup, with the
// admission's pull credentials.
import type { Digest, DockerReference, SystemContext } from '../image/index.ts';
import type { CheckObserver, PullCredentials, Resolver } from './types.ts';

/** Resolves `ref`'s tag to a manifest digest (HEAD, mirrors first); the docker transport provides it. */
export type DigestLookup = (ref: DockerReference, ctx: SystemContext) => Promise<Digest>;

export class RegistryResolver implements Resolver {
  readonly #lookup: DigestLookup;
  readonly #context: SystemContext;

  constructor(lookup: DigestLookup, context: SystemContext) {
    this.#lookup = lookup;
    this.#context = context;
  }

  async resolve(
    ref: DockerReference,
    credentials: PullCredentials,
    signal: AbortSignal,
    observer: CheckObserver,
  ): Promise<Digest> {
    try {
      const digest = await this.#lookup(ref, {
        ...this.#context,
        dockerConfigJson: credentials.dockerConfigJson,
        signal,
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
