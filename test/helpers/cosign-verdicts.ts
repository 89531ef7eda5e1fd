// What Portcullis must answer for each case of cosign-variants.ts, in `policy eval` and through
// the webhook (whose message is `image "<image>" at <field> is not trusted: <reason>`).
import { COSIGN_SIGN_PREDICATE_TYPE } from '../../src/image/signature/sigstore/index.ts';
import type { CosignCase } from './cosign-variants.ts';

export type CosignVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly code: string; readonly reason: string };

export interface ExpectedCosignVerdict {
  readonly verdict: CosignVerdict;
  /** For an allowed image: the signature accepted. */
  readonly accepted?: {
    readonly referrer: boolean;
    readonly digestOnly: boolean;
    readonly dockerReference: string;
  };
}

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const DIGEST_ONLY = 'binds only the digest, names no reference for signedIdentity';
const ADVICE =
  'to accept signatures that bind only the digest under this scope, set "acceptDigestOnlySignatures": true on the requirement';

const denied = (code: string, reason: string): ExpectedCosignVerdict => ({
  verdict: { allowed: false, code, reason },
});

/**
 * The verdict for `c` under cosignPolicyJson (matchRepository), with or without
 * acceptDigestOnlySignatures.
 */
export function expectedCosignVerdict(c: CosignCase, digestOnly: boolean): ExpectedCosignVerdict {
  const tag = `tag ${c.digest.replace(':', '-')}.sig`;
  const oneBundle = (why: string) => `referrers: 1 artifact (1 of type ${BUNDLE}: ${why})`;
  switch (c.kind) {
    case 'unsigned':
      return denied(
        'NO_SIGNATURE',
        `A signature was required, but no signature exists; probed: ${tag}: no signatures; referrers: none`,
      );
    case 'v3 bundle':
    case 'v3 bundle copied to another repository':
      return digestOnly
        ? { verdict: { allowed: true }, accepted: { referrer: true, digestOnly: true, dockerReference: '' } }
        : denied(
            'SIGNATURE_REJECTED',
            `1 signature found, rejected: ${DIGEST_ONLY} (${ADVICE}); probed: ${tag}: no signatures; ${oneBundle(DIGEST_ONLY)}`,
          );
    case 'v3 legacy .sig':
    case 'v2 .sig':
      return {
        verdict: { allowed: true },
        accepted: { referrer: false, digestOnly: false, dockerReference: c.name },
      };
    case 'v2 oci-1-1 referrer':
      return {
        verdict: { allowed: true },
        accepted: { referrer: true, digestOnly: false, dockerReference: c.name },
      };
    case 'attestation only': {
      const predicateType = c.attest?.[1] ?? '';
      return denied(
        'NO_SIGNATURE',
        `A signature was required, but no signature exists; probed: ${tag}: no signatures; ${oneBundle(`an attestation (predicate type ${JSON.stringify(predicateType)}), not a signature (${COSIGN_SIGN_PREDICATE_TYPE})`)}`,
      );
    }
    case 'v3 bundle by another key':
      return denied(
        'SIGNATURE_REJECTED',
        `1 signature found, rejected: signed by an unknown key; probed: ${tag}: no signatures; ${oneBundle('signed by an unknown key')}`,
      );
    case 'v3 legacy .sig copied to another repository': {
      const signedFor = c.name.replace(`/${c.repo}`, `/${c.copiedFrom}`);
      return denied(
        'SIGNATURE_REJECTED',
        `Signature for identity ${JSON.stringify(signedFor)} is not accepted; probed: ${tag}: 1 signature rejected; referrers: none`,
      );
    }
    default:
      throw new Error(`no expected verdict for ${c.kind}`);
  }
}
