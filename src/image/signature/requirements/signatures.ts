// What the signature-verifying requirement types share: attempts and their summary, the checks
// a verified payload must pass, and the acceptIndexSignatures extension.
import type { Digest } from '../../digest.ts';
import { matchesDigest, parseList } from '../../manifest/index.ts';
import type { InstanceOfList, Signature } from '../../types.ts';
import { SignatureError } from '../errors.ts';
import type { SignatureAttempt } from '../evaluate.ts';
import { identityMatches } from '../identity.ts';
import type { SignedIdentity } from '../policy-types.ts';
import type { ImageView, Outcome } from './types.ts';

/** The checks a verifier must apply to a signature's payload after its crypto checks, in this order. */
export interface SignatureExpectations {
  /** Rejects (throws, with upstream's text) unless `digest` is the image's manifest digest. */
  validateSignedDockerManifestDigest(digest: Digest): Promise<void>;
  /** Rejects (throws) unless the payload's docker-reference satisfies the requirement's signedIdentity. */
  validateSignedDockerReference(reference: string): void;
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function rejectedAttempt(index: number, sig: Signature, err: unknown): SignatureAttempt {
  return { index, format: sig.format, accepted: false, reason: message(err), code: errorCode(err) };
}

/** The denial once no attempt was accepted: NO_SIGNATURE with `noneReason`, or why each was rejected. */
export function summarize(attempts: readonly SignatureAttempt[], noneReason: string): Outcome {
  const rejected = attempts.filter((a) => !a.accepted);
  if (rejected.length === 0)
    return { allowed: false, code: 'NO_SIGNATURE', reason: noneReason, signatures: attempts };
  const reason =
    rejected.length === 1
      ? (rejected[0]?.reason ?? '')
      : `None of the signatures were accepted, reasons: ${rejected.map((a) => a.reason).join('; ')}`;
  return { allowed: false, code: 'SIGNATURE_REJECTED', reason, signatures: attempts };
}

/** The expectations of a requirement with `identity`, for the image `view` shows. */
export function expectations(identity: SignedIdentity, view: ImageView): SignatureExpectations {
  return {
    async validateSignedDockerManifestDigest(digest) {
      const { manifest } = await view.manifest();
      if (!matchesDigest(manifest, digest)) {
        throw new SignatureError(
          'SIGNATURE_DIGEST_MISMATCH',
          `Signature for digest ${digest} does not match`,
        );
      }
    },
    validateSignedDockerReference(reference) {
      if (!identityMatches(identity, view.image.reference.dockerReference(), reference)) {
        throw new SignatureError(
          'SIGNATURE_IDENTITY_REJECTED',
          `Signature for identity ${JSON.stringify(reference)} is not accepted`,
        );
      }
    },
  };
}

/**
 * `signedOn(view)`, and with acceptIndexSignatures (a Portcullis extension), when the image is an
 * instance of a list and none of its own signatures was accepted, `signedOn` of the list.
 */
export async function withIndexSignatures(
  acceptIndexSignatures: boolean | undefined,
  view: ImageView,
  signedOn: (view: ImageView) => Promise<Outcome>,
): Promise<Outcome> {
  const own = await signedOn(view);
  const instance = view.image.instance;
  if (own.allowed || instance === undefined || acceptIndexSignatures !== true) return own;
  return withListSignatures(own, await signedOn(view.list(instance)), instance);
}

/** The list's signatures were tried: their payload must name the list's digest, and the list lists the instance. */
async function withListSignatures(own: Outcome, onList: Outcome, instance: InstanceOfList): Promise<Outcome> {
  const listed = (onList.signatures ?? []).map((s) => ({ ...s, list: instance.list.digest }));
  const signatures = [...(own.signatures ?? []), ...listed];
  const probes = [...(own.probes ?? []), ...(onList.probes ?? []).map((p) => `list ${p}`)];
  const extras = {
    ...(probes.length === 0 ? {} : { probes }),
    ...(own.skipped === undefined ? {} : { skipped: own.skipped }),
  };
  if (onList.allowed) {
    const { manifest, mimeType } = await instance.list.manifest();
    if (!parseList(manifest, mimeType).instances.some((i) => i.digest === instance.digest)) {
      return {
        allowed: false,
        code: 'SIGNATURE_REJECTED',
        reason: `list ${instance.list.digest} does not list instance ${instance.digest}`,
        signatures,
        ...extras,
      };
    }
    return { allowed: true, signatures, ...extras };
  }
  const undecided = own.code === 'EVALUATION_FAILED' || onList.code === 'EVALUATION_FAILED';
  const rejected = own.code === 'SIGNATURE_REJECTED' || onList.code === 'SIGNATURE_REJECTED';
  return {
    allowed: false,
    code: undecided ? 'EVALUATION_FAILED' : rejected ? 'SIGNATURE_REJECTED' : (own.code ?? 'NO_SIGNATURE'),
    reason: `${own.reason}; signatures of list ${instance.list.digest}: ${onList.reason}`,
    signatures,
    ...extras,
  };
}
