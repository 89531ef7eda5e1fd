// Adapts the Notation module (image/signature/notation) to the evaluator: a notationSigned
// requirement's trust store bytes and settings -> compiled trust (cached by contents) ->
// discovery and verification among the image's referrers.
import { createHash } from 'node:crypto';
import type { ImageSource } from '../types.ts';
import {
  compileNotationTrust,
  discoverNotationSignature,
  type NotationDiscovery,
  type NotationTarget,
  type NotationTrust,
} from './notation/index.ts';
import type { NotationSignedRequirement, PathOrData } from './policy-types.ts';

/** Verifies notationSigned requirements (implemented in image/signature/notation). */
export interface NotationVerifier {
  /**
   * Looks for a Notation signature of `target` among its referrers in `source` that `requirement`
   * accepts. Resolves with every attempt whatever it found; rejects (NOTATION_TRUST_INVALID, or
   * a file error) only when the requirement's trust material is unusable.
   */
  verify(
    requirement: NotationSignedRequirement,
    source: ImageSource,
    target: NotationTarget,
  ): Promise<NotationDiscovery>;
}

export interface NotationVerifierOptions {
  /** Reads trust store files (the evaluator passes its size-capped reader). */
  readonly readFile: (path: string) => Promise<Uint8Array>;
  /** Clock for certificate validity and expiry; default the system clock. */
  readonly now?: () => Date;
}

const MAX_CACHED_TRUSTS = 64;

export function notationVerifier(options: NotationVerifierOptions): NotationVerifier {
  // Compiled trusts by the hash of everything they were compiled from: files are read at every
  // evaluation (a rotated CA takes effect at once), parsing is done once per content.
  const trusts = new Map<string, NotationTrust>();
  const load = async (source: PathOrData | undefined): Promise<Uint8Array[]> =>
    source === undefined ? [] : [source.kind === 'path' ? await options.readFile(source.path) : source.data];
  return {
    async verify(requirement, source, target) {
      const [ca, signingAuthority, tsa] = await Promise.all([
        load(requirement.trustStore.ca),
        load(requirement.trustStore.signingAuthority),
        load(requirement.trustStore.tsa),
      ]);
      const h = createHash('sha256').update(JSON.stringify(requirement.settings));
      for (const [name, files] of [
        ['ca', ca],
        ['signingAuthority', signingAuthority],
        ['tsa', tsa],
      ] as const)
        for (const f of files) h.update(`\0${name}\0${f.byteLength}\0`).update(f);
      const key = h.digest('hex');
      let trust = trusts.get(key);
      if (trust === undefined) {
        trust = compileNotationTrust({ ...requirement.settings, ca, signingAuthority, tsa });
        if (trusts.size >= MAX_CACHED_TRUSTS) trusts.delete(trusts.keys().next().value!);
        trusts.set(key, trust);
      }
      return discoverNotationSignature(
        source,
        target,
        trust,
        options.now === undefined ? {} : { now: options.now() },
      );
    },
  };
}
