// Policy evaluation (upstream PolicyContext.IsRunningImageAllowed and the requirement
// evaluators): every requirement of the matched scope must allow, in order; the first denial
// decides. A denial is a value with upstream's reason text; an unexpected failure (a manifest
// that cannot be read, a key file that cannot be opened) is a denial too, never "allowed".
import { readFile } from 'node:fs/promises';
import type { Digest } from '../digest.ts';
import { imageName } from '../transports/registry.ts';
import type {
  ImageReference,
  ImageSource,
  InstanceOfList,
  ManifestBytes,
  Signature,
  SignatureWants,
  UnparsedImage,
} from '../types.ts';
import { SignatureError } from './errors.ts';
import { type NotationVerifier, notationVerifier } from './notation-verifier.ts';
import type { Policy, PolicyRequirement } from './policy-types.ts';
import { readsSigstoreSignatures, requirementType, verifiesSignatures } from './requirements/index.ts';
import { message } from './requirements/signatures.ts';
import type { SigstoreVerifier } from './requirements/sigstore-signed.ts';
import type { EvaluationContext, ImageView, Outcome } from './requirements/types.ts';
import { requirementsForImage, type ScopeMatch } from './scope.ts';
import { KeyringCache, VerificationCache } from './simple-signing.ts';

export type DenialCode =
  | 'REJECTED_BY_POLICY'
  | 'NO_SIGNATURE'
  | 'SIGNATURE_REJECTED'
  | 'SIGNED_BASE_LAYER_UNSUPPORTED'
  | 'SIGSTORE_NOT_CONFIGURED'
  | 'NO_SIGNATURE_VERIFICATION'
  /** sigstoreAttested: no attestation of the predicate type was found (none, or none verified). */
  | 'NO_ATTESTATION'
  | 'ATTESTATION_REJECTED'
  /** sigstoreAttested: verified attestations exist, but none satisfies every condition. */
  | 'CONDITIONS_NOT_MET'
  /** notationSigned on a transport that cannot list OCI referrers. */
  | 'REFERRERS_UNSUPPORTED'
  | 'EVALUATION_FAILED';

/** One signature considered by one requirement. */
export interface SignatureAttempt {
  /** Index into the image's signatures(); for a referrer, the count of those signatures. */
  readonly index: number;
  /** Set when the signature came from this OCI 1.1 referrer rather than signatures(). */
  readonly referrer?: string;
  readonly format: Signature['format'] | 'notation';
  /** Notation: the envelope's media type (application/jose+json or application/cose). */
  readonly envelope?: string;
  /** Notation: failures of checks the verification level only logs. */
  readonly warnings?: readonly string[];
  readonly accepted: boolean;
  readonly reason?: string;
  readonly code?: string;
  readonly keyIdentity?: string;
  readonly dockerReference?: string;
  readonly dockerManifestDigest?: string;
  /** The signature names no docker reference, accepted by acceptDigestOnlySignatures. */
  readonly digestOnly?: true;
  /** Set when the signature was made on this list rather than on the instance (acceptIndexSignatures). */
  readonly list?: Digest;
}

export interface RequirementResult {
  readonly index: number;
  readonly type: PolicyRequirement['type'];
  readonly allowed: boolean;
  readonly code?: DenialCode;
  readonly reason?: string;
  /** Signatures tried (signedBy, sigstoreSigned, notationSigned), in order, until one was accepted. */
  readonly signatures?: readonly SignatureAttempt[];
  /** Signatures skipped as not of this requirement's kind. */
  readonly skipped?: { readonly otherFormat: number; readonly nonSignatureAttachments: number };
  /** Referrers probed (sigstoreSigned, notationSigned), e.g. "tag sha256-….sig: no signatures". */
  readonly probes?: readonly string[];
  /** sigstoreAttested: each attestation of the predicate type found, and what became of it. */
  readonly attestations?: readonly AttestationAttempt[];
}

/** One attestation a sigstoreAttested requirement considered. */
export interface AttestationAttempt {
  /** `tag sha256-….att layer sha256:…` or `referrer sha256:…`. */
  readonly location: string;
  readonly verified: boolean;
  /** Set when verified: the key source or certificate identity that signed it. */
  readonly signer?: string;
  /** Set when not verified. */
  readonly reason?: string;
  readonly code?: string;
  /** Set when verified: each condition evaluated, in order, until one did not hold. */
  readonly conditions?: readonly {
    readonly expression: string;
    readonly result: 'true' | 'false' | 'error';
    readonly code?: string;
    readonly message?: string;
    readonly observed?: readonly { readonly path: string; readonly value: string }[];
  }[];
  readonly satisfied?: boolean;
}

/** A plain JSON-able account of one decision. */
export interface Explanation {
  readonly image: string;
  readonly policyIdentity: string;
  readonly matched: { readonly transport: string | null; readonly scope: string | null };
  readonly requireSigned: boolean;
  readonly allowed: boolean;
  readonly code?: DenialCode;
  readonly reason?: string;
  /** Evaluated requirements in order; evaluation stops at the first denial. */
  readonly requirements: readonly RequirementResult[];
  readonly requirementCount: number;
  /** Set when the reference names a manifest list: the instance that was evaluated instead. */
  readonly instance?: EvaluatedInstance;
}

export interface EvaluatedInstance {
  readonly platform: string;
  readonly digest: Digest;
  readonly list: Digest;
}

/** What an explanation records of the instance evaluated. */
export function evaluatedInstance(instance: InstanceOfList): EvaluatedInstance {
  return { platform: instance.platform, digest: instance.digest, list: instance.list.digest };
}

/** "linux/arm64 instance sha256:… of index sha256:…": what was judged when a reference names a list. */
export function describeEvaluatedInstance(i: EvaluatedInstance): string {
  return `${i.platform} instance ${i.digest} of index ${i.list}`;
}

/** What PolicyEvaluator decided about one image, with its explanation. */
export type PolicyDecision =
  | { readonly allowed: true; readonly explanation: Explanation }
  | {
      readonly allowed: false;
      readonly code: DenialCode;
      readonly reason: string;
      readonly explanation: Explanation;
    };

export interface PolicyEvaluatorOptions {
  /** skopeo --require-signed: also deny when no requirement verified a signature. */
  readonly requireSigned?: boolean;
  readonly sigstore?: SigstoreVerifier;
  /** Verifies notationSigned requirements; default: the built-in verifier reading files with readKeyFile. */
  readonly notation?: NotationVerifier;
  /** Clock for signature/key expiry; default the system clock. */
  readonly now?: () => Date;
  /** Reads keyPath files; default fs.readFile with a size cap. */
  readonly readKeyFile?: (path: string) => Promise<Uint8Array>;
  readonly verificationCache?: VerificationCache;
  readonly keyringCache?: KeyringCache;
}

const MAX_KEY_FILE_BYTES = 8 * 1024 * 1024;

async function defaultReadKeyFile(path: string): Promise<Uint8Array> {
  const data = await readFile(path);
  if (data.byteLength > MAX_KEY_FILE_BYTES) {
    throw new SignatureError(
      'SIGNATURE_TOO_LARGE',
      `key file ${path}: expected at most ${MAX_KEY_FILE_BYTES} bytes, got ${data.byteLength}`,
    );
  }
  return data;
}

/** A requirement of the matched scope and what it concluded. */
interface Judged {
  readonly req: PolicyRequirement;
  readonly outcome: Outcome;
}

/** Memoizes the image's lazy getters for one evaluation. */
class MemoizedImage implements ImageView {
  readonly image: UnparsedImage;
  /** Decided once per evaluation, from its requirements: one fetch serves them all. */
  readonly #wants: SignatureWants;
  #manifest: Promise<ManifestBytes> | undefined;
  #signatures: Promise<Signature[]> | undefined;
  #referrerSource: Promise<ImageSource | undefined> | undefined;

  constructor(image: UnparsedImage, wants: SignatureWants) {
    this.image = image;
    this.#wants = wants;
  }
  manifest(): Promise<ManifestBytes> {
    this.#manifest ??= this.image.manifest();
    return this.#manifest;
  }
  signatures(): Promise<Signature[]> {
    this.#signatures ??= this.image.signatures(this.#wants);
    return this.#signatures;
  }
  referrerSource(): Promise<ImageSource | undefined> {
    this.#referrerSource ??= this.image.referrerSource?.() ?? Promise.resolve(undefined);
    return this.#referrerSource;
  }
  #list: MemoizedImage | undefined;
  list(instance: InstanceOfList): ImageView {
    this.#list ??= new MemoizedImage(
      {
        reference: this.image.reference,
        manifest: () => instance.list.manifest(),
        signatures: (wants) => instance.list.signatures(wants),
        referrerSource: () => this.referrerSource(),
      },
      this.#wants,
    );
    return this.#list;
  }
}

export class PolicyEvaluator {
  readonly policy: Policy;
  readonly #requireSigned: boolean;
  readonly #context: EvaluationContext;

  constructor(policy: Policy, options: PolicyEvaluatorOptions = {}) {
    this.policy = policy;
    this.#requireSigned = options.requireSigned ?? false;
    const now = options.now ?? (() => new Date());
    const readKeyFile = options.readKeyFile ?? defaultReadKeyFile;
    this.#context = {
      sigstore: options.sigstore,
      notation: options.notation ?? notationVerifier({ readFile: readKeyFile, now }),
      now,
      readKeyFile,
      verificationCache: options.verificationCache ?? new VerificationCache(),
      keyringCache: options.keyringCache ?? new KeyringCache(),
    };
  }

  /** Upstream IsRunningImageAllowed, with an explanation. Never throws for image or key problems. */
  async evaluate(image: UnparsedImage): Promise<PolicyDecision> {
    const ref = image.reference;
    const match = requirementsForImage(this.policy, ref);
    // Only requirements that check sigstore signatures fetch them: a signedBy-only scope does not.
    const view = new MemoizedImage(image, { sigstore: readsSigstoreSignatures(match.requirements) });
    const outcomes: Judged[] = [];
    for (const req of match.requirements) {
      let outcome: Outcome;
      try {
        const type = requirementType(req);
        outcome =
          type.decideWithoutImage(req, this.#context, ref) ?? (await type.evaluate(req, view, this.#context));
      } catch (err) {
        outcome = { allowed: false, code: 'EVALUATION_FAILED', reason: message(err) };
      }
      outcomes.push({ req, outcome });
      if (!outcome.allowed) break;
    }
    return this.#decision(ref, match, outcomes, image.instance);
  }

  /**
   * The decision when the requirements decide before any of them needs the image (reject,
   * insecureAcceptAnything, signedBaseLayer, sigstoreSigned without a verifier); undefined when
   * the manifest or signatures are needed. Touches nothing but the policy.
   */
  decideWithoutImage(ref: ImageReference): PolicyDecision | undefined {
    const match = requirementsForImage(this.policy, ref);
    const outcomes: Judged[] = [];
    for (const req of match.requirements) {
      const outcome = requirementType(req).decideWithoutImage(req, this.#context, ref);
      if (outcome === undefined) return undefined;
      outcomes.push({ req, outcome });
      if (!outcome.allowed) break;
    }
    return this.#decision(ref, match, outcomes);
  }

  #decision(
    ref: ImageReference,
    match: ScopeMatch,
    judged: readonly Judged[],
    instance?: InstanceOfList,
  ): PolicyDecision {
    const requirements: RequirementResult[] = judged.map(({ req, outcome }, index) => ({
      index,
      type: req.type,
      ...outcome,
    }));
    const base = {
      image: imageName(ref),
      policyIdentity: `${ref.transport.name}:${ref.policyConfigurationIdentity()}`,
      matched: { transport: match.transport ?? null, scope: match.scope ?? null },
      requireSigned: this.#requireSigned,
      requirementCount: match.requirements.length,
      requirements,
      ...(instance === undefined ? {} : { instance: evaluatedInstance(instance) }),
    };
    const denied = judged.find((j) => !j.outcome.allowed)?.outcome;
    if (denied !== undefined) {
      const code = denied.code ?? 'EVALUATION_FAILED';
      const reason = denied.reason ?? 'denied';
      return { allowed: false, code, reason, explanation: { ...base, allowed: false, code, reason } };
    }
    if (this.#requireSigned && !match.requirements.some(verifiesSignatures)) {
      const code = 'NO_SIGNATURE_VERIFICATION';
      const reason = `No signature verification policy found for image ${base.policyIdentity}`;
      return { allowed: false, code, reason, explanation: { ...base, allowed: false, code, reason } };
    }
    return { allowed: true, explanation: { ...base, allowed: true } };
  }
}
