// The TrustPolicy of a policy.json: loaded into the signature layer's PolicyEvaluator, judging
// images through a transport (docker) with the admission's pull credentials.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  BaseError,
  type Digest,
  type DockerReference,
  decidedByPolicyAlone,
  describeEvaluatedInstance,
  evaluatedInstance,
  type ImageReference,
  type ImageSource,
  type ImageTransport,
  type InstanceOfList,
  type InstanceSelection,
  imagesToEvaluate,
  type Policy,
  type PolicyDecision,
  PolicyEvaluator,
  parsePolicy,
  policyFilePaths,
  requirementsForImage,
  type SignatureWants,
  type SigstoreVerifier,
  type SystemContext,
  type UnparsedImage,
} from '../image/index.ts';
import { DEFAULT_POLICY_JSON } from './default-policy.ts';
import { isTransient, registryStatus } from './resolver.ts';
import type { CheckObserver, PullCredentials, TrustPolicy, Verdict } from './types.ts';

export type PolicyLoadErrorCode = 'POLICY_UNREADABLE' | 'TRUST_UNREADABLE';

export class PolicyLoadError extends BaseError<PolicyLoadErrorCode> {}

export interface PolicyLoadOptions {
  /** The docker transport: images in pods are docker references. */
  readonly transport: ImageTransport;
  readonly sigstore: SigstoreVerifier;
  /** registries.conf, registries.d, auth file, TLS settings shared by every admission. */
  readonly context: SystemContext;
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** An image whose bytes must never be needed: used for requirements that decide without them. */
function imageWithoutBytes(reference: ImageReference): UnparsedImage {
  const refuse = () => Promise.reject(new Error('the policy requirement unexpectedly needed the image'));
  return { reference, manifest: refuse, signatures: refuse };
}

function describeInstance(instance: InstanceOfList): string {
  return describeEvaluatedInstance(evaluatedInstance(instance));
}

function toVerdict(verdict: PolicyDecision, digest: Digest | undefined, instance?: InstanceOfList): Verdict {
  if (!verdict.allowed) {
    const reason =
      instance === undefined ? verdict.reason : `${describeInstance(instance)}: ${verdict.reason}`;
    // EVALUATION_FAILED covers a registry that failed mid-way: undecided, so never cached.
    return verdict.code === 'EVALUATION_FAILED'
      ? { kind: 'error', code: verdict.code, reason }
      : { kind: 'denied', reason };
  }
  const accepted = verdict.explanation.requirements
    .flatMap((r) => r.signatures ?? [])
    .filter((s) => s.accepted);
  const reason =
    accepted.length === 0
      ? 'accepted by policy without signature verification'
      : `signed by ${[...new Set(accepted.map((s) => s.keyIdentity ?? 'a trusted key'))].join(', ')}`;
  return {
    kind: 'allowed',
    reason: instance === undefined ? reason : `${reason} (${describeInstance(instance)})`,
    verified: accepted.length > 0,
    ...(digest === undefined ? {} : { digest }),
  };
}

/** Every judged instance passed: one allowed verdict naming each, pinned to what the pod names. */
function allInstancesAllowed(verdicts: readonly Verdict[], digest: Digest): Verdict {
  const [only] = verdicts;
  if (verdicts.length === 1 && only !== undefined) return only;
  return {
    kind: 'allowed',
    reason: verdicts.map((v) => v.reason).join('; '),
    verified: verdicts.every((v) => v.kind === 'allowed' && v.verified),
    digest,
  };
}

/** `source` with every failed call also reported to `onFailure` (the caller still sees it). */
function recordingFailures(source: ImageSource, onFailure: (err: unknown) => void): ImageSource {
  return new Proxy(source, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = value.apply(target, args);
        if (result instanceof Promise) result.catch(onFailure);
        return result;
      };
    },
  });
}

const NEEDS_IMAGE = Symbol('needs the image');
const MAX_MEMOIZED = 10_000;

class LoadedPolicy implements TrustPolicy {
  readonly policyHash: string;
  readonly trustHash: string;
  readonly sources: readonly string[];
  readonly #policy: Policy;
  readonly #evaluator: PolicyEvaluator;
  readonly #options: PolicyLoadOptions;
  readonly #early = new Map<string, Verdict | typeof NEEDS_IMAGE>();

  constructor(
    policy: Policy,
    hashes: { policy: string; trust: string },
    sources: string[],
    options: PolicyLoadOptions,
  ) {
    this.#policy = policy;
    this.policyHash = hashes.policy;
    this.trustHash = hashes.trust;
    this.sources = sources;
    this.#options = options;
    this.#evaluator = new PolicyEvaluator(policy, { sigstore: options.sigstore });
  }

  /** The transport reference policy scopes and identities are matched on: the tag when there is one. */
  #reference(ref: DockerReference): ImageReference {
    // containers/image has no reference with both: the kubelet pulls such images by digest.
    const logical = ref.tag !== undefined && ref.digest !== undefined ? ref.withoutTag() : ref;
    return this.#options.transport.parseReference(`//${logical.toString()}`);
  }

  async decideWithoutImage(ref: DockerReference): Promise<Verdict | undefined> {
    // A pure function of the reference for this policy: memoized, as every admission asks.
    const key = ref.toString();
    const known = this.#early.get(key);
    if (known !== undefined) return known === NEEDS_IMAGE ? undefined : known;
    const reference = this.#reference(ref);
    const { requirements } = requirementsForImage(this.#policy, reference);
    const decided = decidedByPolicyAlone(requirements)
      ? toVerdict(await this.#evaluator.evaluate(imageWithoutBytes(reference)), undefined)
      : undefined;
    if (this.#early.size >= MAX_MEMOIZED) this.#early.clear();
    this.#early.set(key, decided ?? NEEDS_IMAGE);
    return decided;
  }

  async evaluate(
    ref: DockerReference,
    digest: Digest,
    credentials: PullCredentials,
    signal: AbortSignal,
    observer: CheckObserver,
    platforms: InstanceSelection,
    deadline?: number,
  ): Promise<Verdict> {
    const started = performance.now();
    let fetching = 0;
    const ctx: SystemContext = {
      ...this.#options.context,
      dockerConfigJson: credentials.dockerConfigJson,
      signal,
      ...(deadline === undefined ? {} : { deadline }),
    };
    // Bytes come from name@digest (what was resolved and will be pinned), while scope and
    // identity use the name the pod gave, tag included.
    const pinned = this.#options.transport.parseReference(
      `//${ref.withoutTag().withDigest(digest).toString()}`,
    );
    // Whether any registry exchange failed in a way that may pass: the evaluator folds failures
    // into an undecided verdict, and only a transient one may be answered from a stale record.
    // Background work held back by the budget's reserve keeps that code: it is put off, not failed.
    let transient = false;
    let reserved = false;
    const noteFailure = (err: unknown) => {
      transient ||= isTransient(err);
      reserved ||= (err as { code?: unknown } | null)?.code === 'BUDGET_RESERVED';
    };
    let source: Promise<ImageSource> | undefined;
    const open = () => {
      source ??= pinned.newImageSource(ctx).then(
        (s) => recordingFailures(s, noteFailure),
        (err: unknown) => {
          noteFailure(err);
          throw err;
        },
      );
      return source;
    };
    const timed = async <T>(work: (s: ImageSource) => Promise<T>): Promise<T> => {
      const t = performance.now();
      try {
        const result = await work(await open());
        observer.registryRequest('200');
        return result;
      } catch (err) {
        observer.registryRequest(registryStatus(err));
        throw err;
      } finally {
        fetching += performance.now() - t;
      }
    };
    try {
      const image = {
        reference: this.#reference(ref),
        manifest: () => timed((s) => s.getManifest()),
        signatures: (wants?: SignatureWants) => timed((s) => s.getSignatures(undefined, wants)),
        // Referrers are read for notationSigned requirements, and for sigstoreSigned ones the
        // attachments did not satisfy.
        referrerSource: async () => {
          const s = await open();
          return s.listReferrers === undefined ? undefined : s;
        },
      };
      // A list is judged by its instances' own manifests and signatures, as the node's runtime
      // does; the verdict's digest stays the list's, so the node still picks its platform.
      const chosen = await imagesToEvaluate(
        image,
        (d) => ({
          manifest: () => timed((s) => s.getManifest(d)),
          signatures: (wants?: SignatureWants) => timed((s) => s.getSignatures(d, wants)),
        }),
        platforms,
      );
      if (chosen.images.length === 0) {
        return {
          kind: 'denied',
          reason: `index ${chosen.list} has no instance for ${chosen.missing.join(', ')} (it offers ${chosen.offered.join(', ')})`,
        };
      }
      const verdicts: Verdict[] = [];
      // In order, stopping at the first refusal: later instances are then never fetched.
      for (const one of chosen.images) {
        const verdict = toVerdict(await this.#evaluator.evaluate(one), digest, one.instance);
        if (verdict.kind === 'error' && transient)
          return { ...verdict, transient, ...(reserved ? { code: 'BUDGET_RESERVED' } : {}) };
        if (verdict.kind !== 'allowed') return verdict;
        verdicts.push(verdict);
      }
      return allInstancesAllowed(verdicts, digest);
    } finally {
      observer.stage('fetch_signatures', fetching / 1000);
      observer.stage('verify', (performance.now() - started - fetching) / 1000);
      if (source !== undefined) await (await source.catch(() => undefined))?.close();
    }
  }
}

/**
 * Loads `path` (or the embedded default policy) and hashes it and the trust material it names,
 * so a change to either yields a new generation of cache keys.
 */
export async function loadPolicy(path: string | undefined, options: PolicyLoadOptions): Promise<TrustPolicy> {
  let text: Uint8Array | string;
  try {
    text = path === undefined ? DEFAULT_POLICY_JSON : await readFile(path);
  } catch (err) {
    throw new PolicyLoadError('POLICY_UNREADABLE', `reading policy ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return compile(text, options, path, async () => {});
}

/**
 * Compiles policy.json text that has no file of its own (a policy CRD's). `prepare` sees the
 * parsed policy first and may reject it, e.g. when an inline key does not load.
 */
export function loadPolicyText(
  text: string,
  options: PolicyLoadOptions,
  prepare: (policy: Policy) => Promise<void>,
): Promise<TrustPolicy> {
  return compile(text, options, undefined, prepare);
}

async function compile(
  text: Uint8Array | string,
  options: PolicyLoadOptions,
  path: string | undefined,
  prepare: (policy: Policy) => Promise<void>,
): Promise<TrustPolicy> {
  const policy = parsePolicy(text, {
    transports: { get: (name) => (name === options.transport.name ? options.transport : undefined) },
  });
  await prepare(policy);
  const paths = policyFilePaths(policy);
  const trust = createHash('sha256');
  for (const p of paths) {
    try {
      trust.update(`${p}\0${sha256(await readFile(p))}\0`);
    } catch (err) {
      throw new PolicyLoadError(
        'TRUST_UNREADABLE',
        `reading trust material ${p}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  const sources = path === undefined ? paths : [path, ...paths];
  return new LoadedPolicy(policy, { policy: sha256(text), trust: trust.digest('hex') }, sources, options);
}
