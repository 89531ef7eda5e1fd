// Policy evaluation (upstream PolicyContext.IsRunningImageAllowed and the requirement
// evaluators): every requirement of the matched scope must allow, in order; the first denial
// decides. A denial is a value with upstream's reason text; an unexpected failure (a manifest
// that cannot be read, a key file that cannot be opened) is a denial too, never "allowed".
import { readFile } from 'node:fs/promises';
import type { Digest } from '../digest.ts';
import { manifestDigest, matchesDigest, parseList } from '../manifest/index.ts';
import { imageName } from '../transports/registry.ts';
import type { ImageReference, ImageSource, ManifestBytes, Signature, SignatureWants } from '../types.ts';
import {
  type AttestationDiscovery,
  describeFailure,
  describeLocation,
  type ImageFacts,
  type JudgedAttestation,
} from './attestation/index.ts';
import { SignatureError } from './errors.ts';
import type { GpgKeyring } from './gpg/openpgp.ts';
import { identityMatches } from './identity.ts';
import type { NotationAttempt, NotationTarget } from './notation/index.ts';
import { type NotationVerifier, notationVerifier } from './notation-verifier.ts';
import {
  type ByteSource,
  type NotationSignedRequirement,
  type Policy,
  type PolicyRequirement,
  type SignedByRequirement,
  type SignedIdentity,
  type SigstoreAttestedRequirement,
  type SigstoreSignedRequirement,
  verifiesSignatures,
} from './policy-types.ts';
import { requirementsForImage, type ScopeMatch } from './scope.ts';
import {
  type AcceptedSignature,
  KeyringCache,
  VerificationCache,
  verifyAndExtractSignature,
} from './simple-signing.ts';

/** What evaluation needs of an image; manifest() and signatures() are called at most once, lazily. */
export interface UnparsedImage {
  readonly reference: ImageReference;
  manifest(): Promise<ManifestBytes>;
  signatures(wants?: SignatureWants): Promise<Signature[]>;
  /**
   * Optional: the source whose OCI 1.1 referrers may hold sigstore signatures (bundles, cosign
   * oci-1-1 signatures); undefined when the transport cannot list referrers. Asked at most once,
   * only by a sigstoreSigned requirement that signatures() did not satisfy.
   */
  referrerSource?(): Promise<ImageSource | undefined>;
  /** Set when this image is an instance of a manifest list, chosen from it for a platform. */
  readonly instance?: InstanceOfList;
}

/** Where an evaluated instance came from; its manifest() and signatures() are the instance's own. */
export interface InstanceOfList {
  /** The platform the instance was chosen for, `os/arch[/variant]`. */
  readonly platform: string;
  readonly digest: Digest;
  /** The list (index) the reference names, which lists `digest`. */
  readonly list: {
    readonly digest: Digest;
    manifest(): Promise<ManifestBytes>;
    signatures(wants?: SignatureWants): Promise<Signature[]>;
  };
}

export type SigstoreSignature = Extract<Signature, { format: 'sigstore-json' }>;

/** The checks a sigstore verifier must apply to the payload after its crypto checks, in this order. */
export interface SignatureExpectations {
  /** Rejects (throws, with upstream's text) unless `digest` is the image's manifest digest. */
  validateSignedDockerManifestDigest(digest: Digest): Promise<void>;
  /** Rejects (throws) unless the payload's docker-reference satisfies the requirement's signedIdentity. */
  validateSignedDockerReference(reference: string): void;
}

/**
 * Verifies cosign-format signatures for sigstoreSigned requirements (implemented in
 * image/signature/sigstore). `verify` resolves only for a signature it accepted (crypto, strict
 * payload parse with type "cosign container image signature", then both expectations); any
 * rejection is a thrown Error whose message is the reason shown to users.
 */
export interface SigstoreVerifier {
  verify(
    requirement: SigstoreSignedRequirement,
    signature: SigstoreSignature,
    expectations: SignatureExpectations,
  ): Promise<AcceptedSignature>;
  /**
   * Optional: looks for a signature `requirement` accepts among the referrers of `digest` in
   * `source`, bounded. Resolves with what it probed (one line per place) whatever it found.
   */
  verifyReferrers?(
    requirement: SigstoreSignedRequirement,
    source: ImageSource,
    digest: Digest,
    expectations: SignatureExpectations,
  ): Promise<ReferrerVerification>;
  /**
   * Optional: the attestations of `image.digest` in `source` that `requirement` trusts, each
   * judged by its conditions (until one satisfies them all). Never throws for registry content.
   */
  verifyAttestations?(
    requirement: SigstoreAttestedRequirement,
    source: ImageSource,
    image: ImageFacts,
  ): Promise<AttestationDiscovery & { readonly judged: readonly JudgedAttestation[] }>;
}

export interface ReferrerVerification {
  readonly accepted:
    | (AcceptedSignature & { readonly referrer: Digest; readonly digestOnly?: true })
    | undefined;
  readonly probes: readonly string[];
  /** Why each signature found among the referrers was rejected, in short words (not attestations). */
  readonly rejected: readonly string[];
  /** What the requirement could set to accept a rejected signature, said after the reasons. */
  readonly advice?: string;
  /** Something could not be read (maybe temporarily): a denial then is undecided, not final. */
  readonly incomplete: boolean;
}

export const SIGSTORE_SIGNATURE_MIME_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';

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

export type Verdict =
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

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Memoizes the image's lazy getters for one evaluation. */
class ImageView {
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
  #list: ImageView | undefined;
  /** The list this instance is listed in, as an image of its own (same reference and referrers). */
  list(instance: InstanceOfList): ImageView {
    this.#list ??= new ImageView(
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

function rejection(index: number, sig: Signature, err: unknown): SignatureAttempt {
  return { index, format: sig.format, accepted: false, reason: message(err), code: errorCode(err) };
}

type Outcome = Omit<RequirementResult, 'index' | 'type'>;

/**
 * What a sigstoreSigned denial says first. Upstream's wording where upstream has the case (no
 * signature anywhere; only `.sig` signatures, all rejected); once a referrer held a signature, how
 * many signatures were found and why each was rejected, with the opt-in a digest-only one needs.
 */
function headline(
  attachments: readonly SignatureAttempt[],
  found: ReferrerVerification,
  outcome: Outcome,
): string {
  if (found.rejected.length === 0) return outcome.reason ?? 'denied';
  const reasons = [
    ...attachments.filter((a) => !a.accepted).map((a) => a.reason ?? 'rejected'),
    ...found.rejected,
  ];
  const counts = new Map<string, number>();
  for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  const why = [...counts].map(([r, n]) => (n === 1 ? r : `${n}× ${r}`)).join(', ');
  const n = reasons.length;
  const advice = found.advice === undefined ? '' : ` (${found.advice})`;
  return `${n} signature${n === 1 ? '' : 's'} found, ${n === 1 ? '' : 'all '}rejected: ${why}${advice}`;
}

function summarize(attempts: readonly SignatureAttempt[], noneReason: string): Outcome {
  const rejected = attempts.filter((a) => !a.accepted);
  if (rejected.length === 0)
    return { allowed: false, code: 'NO_SIGNATURE', reason: noneReason, signatures: attempts };
  const reason =
    rejected.length === 1
      ? (rejected[0]?.reason ?? '')
      : `None of the signatures were accepted, reasons: ${rejected.map((a) => a.reason).join('; ')}`;
  return { allowed: false, code: 'SIGNATURE_REJECTED', reason, signatures: attempts };
}

export class PolicyEvaluator {
  readonly policy: Policy;
  readonly #requireSigned: boolean;
  readonly #sigstore: SigstoreVerifier | undefined;
  readonly #notation: NotationVerifier;
  readonly #now: () => Date;
  readonly #readKeyFile: (path: string) => Promise<Uint8Array>;
  readonly #verifications: VerificationCache;
  readonly #keyrings: KeyringCache;

  constructor(policy: Policy, options: PolicyEvaluatorOptions = {}) {
    this.policy = policy;
    this.#requireSigned = options.requireSigned ?? false;
    this.#sigstore = options.sigstore;
    this.#now = options.now ?? (() => new Date());
    this.#readKeyFile = options.readKeyFile ?? defaultReadKeyFile;
    this.#verifications = options.verificationCache ?? new VerificationCache();
    this.#keyrings = options.keyringCache ?? new KeyringCache();
    this.#notation = options.notation ?? notationVerifier({ readFile: this.#readKeyFile, now: this.#now });
  }

  /** Upstream IsRunningImageAllowed, with an explanation. Never throws for image or key problems. */
  async evaluate(image: UnparsedImage): Promise<Verdict> {
    const ref = image.reference;
    const match = requirementsForImage(this.policy, ref);
    // Only sigstoreSigned looks at sigstore signatures: a signedBy-only scope does not fetch them.
    const view = new ImageView(image, {
      sigstore: match.requirements.some((r) => r.type === 'sigstoreSigned'),
    });
    const outcomes: Outcome[] = [];
    for (const req of match.requirements) {
      let outcome: Outcome;
      try {
        outcome = this.#withoutImage(req, ref) ?? (await this.#withImage(req, view));
      } catch (err) {
        outcome = { allowed: false, code: 'EVALUATION_FAILED', reason: message(err) };
      }
      outcomes.push(outcome);
      if (!outcome.allowed) break;
    }
    return this.#verdict(ref, match, outcomes, image.instance);
  }

  /**
   * The verdict when the requirements decide before any of them needs the image (reject,
   * insecureAcceptAnything, signedBaseLayer, sigstoreSigned without a verifier); undefined when
   * the manifest or signatures are needed. Touches nothing but the policy.
   */
  decideWithoutImage(ref: ImageReference): Verdict | undefined {
    const match = requirementsForImage(this.policy, ref);
    const outcomes: Outcome[] = [];
    for (const req of match.requirements) {
      const outcome = this.#withoutImage(req, ref);
      if (outcome === undefined) return undefined;
      outcomes.push(outcome);
      if (!outcome.allowed) break;
    }
    return this.#verdict(ref, match, outcomes);
  }

  #verdict(
    ref: ImageReference,
    match: ScopeMatch,
    outcomes: readonly Outcome[],
    instance?: InstanceOfList,
  ): Verdict {
    const requirements: RequirementResult[] = outcomes.map((o, index) => ({
      index,
      type: match.requirements[index]?.type ?? 'reject',
      ...o,
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
    const denied = outcomes.find((o) => !o.allowed);
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

  #withoutImage(req: PolicyRequirement, ref: ImageReference): Outcome | undefined {
    switch (req.type) {
      case 'insecureAcceptAnything':
        return { allowed: true };
      case 'reject':
        return {
          allowed: false,
          code: 'REJECTED_BY_POLICY',
          reason: `Running image ${imageName(ref)} is rejected by policy.`,
        };
      case 'signedBaseLayer':
        return {
          allowed: false,
          code: 'SIGNED_BASE_LAYER_UNSUPPORTED',
          reason: 'signedBaseLayer not implemented yet!',
        };
      case 'sigstoreSigned':
        if (this.#sigstore !== undefined) return undefined;
        return {
          allowed: false,
          code: 'SIGSTORE_NOT_CONFIGURED',
          reason: 'sigstore verification not configured: sigstoreSigned requirements cannot be evaluated',
        };
      case 'sigstoreAttested':
        if (this.#sigstore?.verifyAttestations !== undefined) return undefined;
        return {
          allowed: false,
          code: 'SIGSTORE_NOT_CONFIGURED',
          reason: 'sigstore verification not configured: sigstoreAttested requirements cannot be evaluated',
        };
      case 'signedBy':
        return undefined;
      case 'notationSigned':
        // Notation's skip level verifies nothing (the trust policy's way to exempt a scope).
        return req.settings.level === 'skip' ? { allowed: true } : undefined;
      default:
        return { allowed: false, code: 'EVALUATION_FAILED', reason: 'unknown policy requirement type' };
    }
  }

  async #withImage(req: PolicyRequirement, view: ImageView): Promise<Outcome> {
    if (req.type === 'sigstoreAttested') return this.#sigstoreAttested(req, view);
    if (req.type === 'notationSigned') return this.#notationSigned(req, view);
    const own = await this.#signedOn(req, view);
    const instance = view.image.instance;
    if (own.allowed || instance === undefined) return own;
    if (!((req.type === 'signedBy' || req.type === 'sigstoreSigned') && req.acceptIndexSignatures === true))
      return own;
    return this.#withListSignatures(own, await this.#signedOn(req, view.list(instance)), instance);
  }

  /**
   * Extension (acceptIndexSignatures): the instance's own signatures were not accepted, so the
   * list's are tried; their payload must name the list's digest, and the list lists the instance.
   */
  async #withListSignatures(own: Outcome, onList: Outcome, instance: InstanceOfList): Promise<Outcome> {
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

  async #signedOn(req: PolicyRequirement, view: ImageView): Promise<Outcome> {
    switch (req.type) {
      case 'signedBy':
        return this.#signedBy(req, view);
      case 'sigstoreSigned':
        return this.#sigstoreSigned(req, view);
      default:
        return { allowed: false, code: 'EVALUATION_FAILED', reason: `unexpected ${req.type} requirement` };
    }
  }

  #expectations(identity: SignedIdentity, view: ImageView): SignatureExpectations {
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

  async #loadBytes(source: ByteSource): Promise<Uint8Array[]> {
    switch (source.kind) {
      case 'path':
        return [await this.#readKeyFile(source.path)];
      case 'paths':
        return Promise.all(source.paths.map((p) => this.#readKeyFile(p)));
      case 'data':
        return [source.data];
      case 'datas':
        return [...source.datas];
      default:
        return [];
    }
  }

  async #signedBy(req: SignedByRequirement, view: ImageView): Promise<Outcome> {
    const all = await view.signatures();
    const attempts: SignatureAttempt[] = [];
    let otherFormat = 0;
    // Keys are loaded only when there is a signature to check, as upstream does per signature.
    let keys: Promise<GpgKeyring> | undefined;
    const expectations = this.#expectations(req.signedIdentity, view);
    for (const [index, sig] of all.entries()) {
      if (sig.format !== 'simple-signing') {
        otherFormat++;
        continue;
      }
      try {
        if (req.keyType !== 'GPGKeys') {
          throw new SignatureError(
            'KEY_INVALID',
            `Unimplemented "keyType" value ${JSON.stringify(req.keyType)}`,
          );
        }
        keys ??= this.#loadBytes(req.keys).then((data) => this.#keyrings.load(data));
        const keyring = await keys;
        if (keyring.fingerprints.length === 0)
          throw new SignatureError('KEY_INVALID', 'No public keys imported');
        const accepted = await verifyAndExtractSignature(
          sig.blob,
          keyring,
          { acceptedKeyIdentities: keyring.fingerprints, ...expectations },
          { cache: this.#verifications, now: this.#now() },
        );
        attempts.push({ index, format: sig.format, accepted: true, ...accepted });
        return { allowed: true, signatures: attempts };
      } catch (err) {
        attempts.push(rejection(index, sig, err));
      }
    }
    const outcome = summarize(attempts, 'A signature was required, but no signature exists');
    return otherFormat === 0 ? outcome : { ...outcome, skipped: { otherFormat, nonSignatureAttachments: 0 } };
  }

  async #sigstoreSigned(req: SigstoreSignedRequirement, view: ImageView): Promise<Outcome> {
    const verifier = this.#sigstore;
    if (verifier === undefined)
      return {
        allowed: false,
        code: 'SIGSTORE_NOT_CONFIGURED',
        reason: 'sigstore verification not configured',
      };
    const all = await view.signatures();
    const attempts: SignatureAttempt[] = [];
    let otherFormat = 0;
    let nonSignatureAttachments = 0;
    const expectations = this.#expectations(req.signedIdentity, view);
    for (const [index, sig] of all.entries()) {
      if (sig.format !== 'sigstore-json') {
        otherFormat++;
        continue;
      }
      if (sig.mimeType !== SIGSTORE_SIGNATURE_MIME_TYPE) {
        nonSignatureAttachments++;
        continue;
      }
      try {
        const accepted = await verifier.verify(req, sig, expectations);
        attempts.push({ index, format: sig.format, accepted: true, ...accepted });
        return { allowed: true, signatures: attempts, skipped: { otherFormat, nonSignatureAttachments } };
      } catch (err) {
        attempts.push(rejection(index, sig, err));
      }
    }
    const none =
      otherFormat === 0 && nonSignatureAttachments === 0
        ? 'A signature was required, but no signature exists'
        : `A signature was required, but no signature exists (${otherFormat} non-sigstore signatures, ${nonSignatureAttachments} sigstore non-signature attachments)`;
    const outcome = { ...summarize(attempts, none), skipped: { otherFormat, nonSignatureAttachments } };
    return this.#sigstoreReferrers(req, view, verifier, outcome, nonSignatureAttachments);
  }

  /** Extension: the image's referrers, when the attachments did not satisfy `req`. */
  async #sigstoreReferrers(
    req: SigstoreSignedRequirement,
    view: ImageView,
    verifier: SigstoreVerifier,
    outcome: Outcome,
    nonSignatureAttachments: number,
  ): Promise<Outcome> {
    if (verifier.verifyReferrers === undefined) return outcome;
    const source = await view.referrerSource();
    if (source === undefined) return outcome;
    const digest = manifestDigest((await view.manifest()).manifest);
    const found = await verifier.verifyReferrers(
      req,
      source,
      digest,
      this.#expectations(req.signedIdentity, view),
    );
    const attempts = outcome.signatures ?? [];
    const tag = `tag ${digest.replace(':', '-')}.sig: ${
      attempts.length === 0 && nonSignatureAttachments === 0
        ? 'no signatures'
        : `${attempts.length} signature${attempts.length === 1 ? '' : 's'} rejected${nonSignatureAttachments ? `, ${nonSignatureAttachments} non-signature attachments` : ''}`
    }`;
    const probes = [tag, ...found.probes];
    if (found.accepted !== undefined) {
      const { referrer, ...accepted } = found.accepted;
      const attempt = { index: attempts.length, referrer, format: 'sigstore-json' as const, accepted: true };
      const signatures = [...attempts, { ...attempt, ...accepted }];
      return { allowed: true, signatures, ...(outcome.skipped ? { skipped: outcome.skipped } : {}), probes };
    }
    const reason = `${headline(attempts, found, outcome)}; probed: ${probes.join('; ')}`;
    // A referrer that could not be read might have been the signature: undecided, never cached.
    if (found.incomplete) return { ...outcome, code: 'EVALUATION_FAILED', reason, probes };
    return found.rejected.length > 0
      ? { ...outcome, code: 'SIGNATURE_REJECTED', reason, probes }
      : { ...outcome, reason, probes };
  }

  /**
   * Extension: an attestation of the instance's own digest (the digest judged), verified with the
   * requirement's trust, for which every condition holds.
   */
  async #sigstoreAttested(req: SigstoreAttestedRequirement, view: ImageView): Promise<Outcome> {
    const verify = this.#sigstore?.verifyAttestations?.bind(this.#sigstore);
    const source = await view.referrerSource();
    if (verify === undefined || source === undefined) {
      return {
        allowed: false,
        code: 'SIGSTORE_NOT_CONFIGURED',
        reason: `attestations cannot be read through the ${view.image.reference.transport.name} transport`,
      };
    }
    const digest = manifestDigest((await view.manifest()).manifest);
    const ref = view.image.reference;
    const reference = ref.dockerReference()?.toString() ?? ref.policyConfigurationIdentity();
    const found = await verify(req, source, { reference, digest });
    const judged = new Map(found.judged.map((j) => [j.attestation, j]));
    const attestations: AttestationAttempt[] = [
      ...found.verified.map((a) => attestationAttempt(a.location, judged.get(a), a.signer)),
      ...found.rejected.map((r) => ({
        location: describeLocation(r.location),
        verified: false,
        reason: r.reason,
        ...(r.code === undefined ? {} : { code: r.code }),
      })),
    ];
    const probes = found.probes;
    if (found.judged.some((j) => j.satisfied)) return { allowed: true, attestations, probes };
    const what = `an attestation of type ${JSON.stringify(req.predicateType)}`;
    let code: DenialCode;
    let reason: string;
    if (found.verified.length > 0) {
      code = 'CONDITIONS_NOT_MET';
      const failures = found.judged.flatMap((j) => describeFailure(j) ?? []);
      const n = found.verified.length;
      reason = `${what} was required with its conditions met: ${failures.slice(0, 3).join('; ')}${failures.length > 3 ? `; and ${failures.length - 3} more` : ''} (${n} verified, ${n === 1 ? 'it does' : 'none does'} not meet them)`;
    } else if (found.rejected.length > 0) {
      code = 'ATTESTATION_REJECTED';
      const reasons = [...new Set(found.rejected.map((r) => r.reason))];
      reason = `${what} was required; ${found.rejected.length} found, rejected: ${reasons.slice(0, 3).join('; ')}`;
    } else {
      code = 'NO_ATTESTATION';
      reason = `${what} was required, but none exists`;
    }
    reason = `${reason}; probed: ${probes.join('; ')}`;
    // An attestation that could not be read might have been the one: undecided, never cached.
    if (found.incomplete && code !== 'CONDITIONS_NOT_MET') code = 'EVALUATION_FAILED';
    return { allowed: false, code, reason, attestations, probes };
  }

  /**
   * Extension: a Notation signature among the image's referrers. For an instance of a list, the
   * list's own signatures count too: `notation sign` signs what a reference names, which for a
   * multi-arch image is the index, and `notation verify` accepts that for every instance.
   */
  async #notationSigned(req: NotationSignedRequirement, view: ImageView): Promise<Outcome> {
    const source = await view.referrerSource();
    if (source === undefined) {
      return {
        allowed: false,
        code: 'REFERRERS_UNSUPPORTED',
        reason: `Notation signatures are OCI referrers, which the ${view.image.reference.transport.name} transport cannot list`,
      };
    }
    const own = await view.manifest();
    const targets: { target: NotationTarget; list?: Digest }[] = [
      {
        target: {
          digest: manifestDigest(own.manifest),
          size: own.manifest.byteLength,
          mediaType: own.mimeType,
        },
      },
    ];
    const instance = view.image.instance;
    const signatures: SignatureAttempt[] = [];
    const probes: string[] = [];
    let incomplete = false;
    for (let i = 0; i < 2; i++) {
      if (i === 1) {
        if (instance === undefined) break;
        const list = await instance.list.manifest();
        targets.push({
          target: { digest: instance.list.digest, size: list.manifest.byteLength, mediaType: list.mimeType },
          list: instance.list.digest,
        });
      }
      const { target, list } = targets[i]!;
      const found = await this.#notation.verify(req, source, target);
      incomplete ||= found.incomplete;
      probes.push(...found.probes.map((p) => (list === undefined ? p : `list ${list} ${p}`)));
      signatures.push(...found.attempts.map((a) => notationAttempt(a, signatures.length, list)));
      if (found.accepted !== undefined) return { allowed: true, signatures, probes };
    }
    const rejected = signatures.filter((a) => !a.accepted);
    const reason =
      rejected.length === 0
        ? `A Notation signature was required, but none exists (probed: ${probes.join('; ')})`
        : `None of the Notation signatures were accepted, reasons: ${rejected.map((a) => `${a.referrer}: ${a.reason}`).join('; ')}`;
    if (incomplete) return { allowed: false, code: 'EVALUATION_FAILED', reason, signatures, probes };
    return {
      allowed: false,
      code: rejected.length === 0 ? 'NO_SIGNATURE' : 'SIGNATURE_REJECTED',
      reason,
      signatures,
      probes,
    };
  }
}

function attestationAttempt(
  location: Parameters<typeof describeLocation>[0],
  judged: JudgedAttestation | undefined,
  signer:
    | { kind: 'key'; source: string }
    | { kind: 'certificate'; emails: readonly string[]; uris: readonly string[] },
): AttestationAttempt {
  return {
    location: describeLocation(location),
    verified: true,
    signer: signer.kind === 'key' ? signer.source : (signer.emails[0] ?? signer.uris[0] ?? 'certificate'),
    ...(judged === undefined
      ? {}
      : {
          satisfied: judged.satisfied,
          conditions: judged.conditions.map((c) => ({
            expression: c.expression,
            result: c.outcome.holds ? ('true' as const) : c.outcome.kind,
            ...(c.outcome.holds || c.outcome.code === undefined ? {} : { code: c.outcome.code }),
            ...(c.outcome.holds || c.outcome.message === undefined ? {} : { message: c.outcome.message }),
            ...(c.observed === undefined ? {} : { observed: c.observed }),
          })),
        }),
  };
}

function notationAttempt(a: NotationAttempt, index: number, list: Digest | undefined): SignatureAttempt {
  return {
    index,
    referrer: a.referrer,
    format: 'notation',
    accepted: a.accepted,
    ...(a.envelope === undefined ? {} : { envelope: a.envelope }),
    ...(a.reason === undefined ? {} : { reason: a.reason }),
    ...(a.code === undefined ? {} : { code: a.code }),
    ...(a.signature === undefined
      ? {}
      : {
          keyIdentity: a.signature.signer,
          ...(a.signature.warnings.length ? { warnings: a.signature.warnings } : {}),
        }),
    ...(list === undefined ? {} : { list }),
  };
}
