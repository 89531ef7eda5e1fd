// The contract of a policy requirement type. Each type (its policy.json shape, parse, evaluation,
// lint rules and the files it reads) is one module of this folder, registered in index.ts; the
// parser, evaluator, linter and trust hash ask the registered type and never switch on `type`.
import type {
  ImageReference,
  ImageSource,
  InstanceOfList,
  ManifestBytes,
  Signature,
  UnparsedImage,
} from '../../types.ts';
import type { RequirementResult } from '../evaluate.ts';
import type { ObjectReader } from '../json.ts';
import type { LintCode } from '../lint.ts';
import type { NotationVerifier } from '../notation-verifier.ts';
import type { PolicyRequirement } from '../policy-types.ts';
import type { KeyringCache, VerificationCache } from '../simple-signing.ts';
import type { SigstoreVerifier } from './sigstore-signed.ts';

/** What one requirement concluded; the evaluator adds its index and type. */
export type Outcome = Omit<RequirementResult, 'index' | 'type'>;

/** The image under evaluation; each getter is asked of the image at most once per evaluation. */
export interface ImageView {
  readonly image: UnparsedImage;
  manifest(): Promise<ManifestBytes>;
  /** The image's signatures, fetched as the scope's requirements together want them. */
  signatures(): Promise<Signature[]>;
  /** Where the image's OCI referrers are listed; undefined when the transport cannot list them. */
  referrerSource(): Promise<ImageSource | undefined>;
  /** The list `instance` is listed in, as an image of its own (same reference and referrers). */
  list(instance: InstanceOfList): ImageView;
}

/** What evaluation uses besides the image: the evaluator's options, every one resolved. */
export interface EvaluationContext {
  /** Verifies sigstore signatures; undefined when none is configured (sigstoreSigned then denies). */
  readonly sigstore: SigstoreVerifier | undefined;
  /** Verifies notationSigned requirements. */
  readonly notation: NotationVerifier;
  /** Clock for signature and key expiry. */
  readonly now: () => Date;
  /** Reads a key or certificate file named by the policy, bounded. */
  readonly readKeyFile: (path: string) => Promise<Uint8Array>;
  readonly verificationCache: VerificationCache;
  readonly keyringCache: KeyringCache;
}

/** How strict a requirement is: `verifies` answers --require-signed, the linter compares scopes by it. */
export type Strength = 'accepts-anything' | 'verifies' | 'rejects';

/** A lint finding about one requirement; the linter adds where it is. */
export interface RequirementWarning {
  readonly code: LintCode;
  readonly message: string;
}

export interface RequirementType<R extends PolicyRequirement> {
  /** The policy.json `type` value. */
  readonly name: R['type'];
  /**
   * Reads the members of a requirement object whose `type` is `name`, with upstream's rules: every
   * member is known (obj.finish), key sources are checked. Throws JsonError with the location.
   */
  parse(obj: ObjectReader): R;
  /**
   * The outcome when it does not depend on the image (reject, or a verifier `ctx` lacks), else
   * undefined. Touches nothing but `req`, `ctx` and the reference.
   */
  decideWithoutImage(req: R, ctx: EvaluationContext, reference: ImageReference): Outcome | undefined;
  /**
   * Judges the image; called only when decideWithoutImage answered undefined. A denial is an
   * outcome; a throw (an unreadable manifest or key) is turned into EVALUATION_FAILED by the caller.
   */
  evaluate(req: R, view: ImageView, ctx: EvaluationContext): Promise<Outcome>;
  /**
   * True when the outcome is fixed by the policy alone, for every image and every evaluator
   * (reject, insecureAcceptAnything): a scope of only such requirements is decided before any
   * registry is asked.
   */
  readonly policyOnly: boolean;
  /** True when evaluate() checks the sigstore signatures among signatures() (`.sig` attachments). */
  readonly readsSigstoreSignatures: boolean;
  strength(req: R): Strength;
  /**
   * The Portcullis extension fields `req` uses, as policy.json spells them: a policy with any of
   * them does not load in Podman, skopeo or CRI-O (their parsers reject unknown fields).
   */
  extensionFields(req: R): string[];
  /** What `policy lint` says about `req`, in order. */
  lint(req: R): RequirementWarning[];
  /** The files evaluate() reads (keys, CAs, trust roots): watched, and hashed into the trust hash. */
  files(req: R): string[];
}
