// One admission review in, one answer out, always within the deadline.
import type {
  CheckProgress,
  Evaluator,
  PullCredentials,
  PullSecretSource,
  Verdict,
} from '../policy/index.ts';
import { extractImages, type ImageSite } from './images.ts';
import type { Logger } from './log.ts';
import type { Decision, Metrics } from './metrics.ts';
import {
  type AdmissionRequest,
  type AdmissionResponse,
  type AdmissionReviewResponse,
  parseReview,
  rejection,
  reviewResponse,
  salvageUid,
  WebhookError,
} from './review.ts';

/** enforce: deny; warn: admit with warnings; audit: admit, record only. */
export type Mode = 'enforce' | 'warn' | 'audit';
export const MODES: readonly Mode[] = ['enforce', 'warn', 'audit'];

export interface Checker {
  /** Never throws; `evaluator` replaces the checker's own policy for this check. */
  check(
    image: string,
    credentials: PullCredentials,
    progress: CheckProgress,
    evaluator?: Evaluator,
  ): Promise<Verdict>;
}

/** A policy chosen by namespace (a policy object), with its own mode. */
export type ScopedPolicy = { readonly key: string; readonly mode: Mode } & (
  | { readonly evaluator: Evaluator }
  /** It never compiled: every image is undecided under it. */
  | { readonly failure: string }
);

export interface NamespacePolicies {
  /** Whether the checker's own policy (the policy file, in the configured mode) applies as well. */
  readonly withFilePolicy: boolean;
  /** The policies for pods in `namespace`, each of which must admit; throws while unknown. */
  policiesFor(namespace: string): readonly ScopedPolicy[];
}

export interface AdmissionSettings {
  readonly checker: Checker;
  readonly pullSecrets: PullSecretSource;
  /** Policies by namespace, besides or instead of the checker's own; undefined: only its own. */
  readonly policies?: NamespacePolicies;
  readonly mode: Mode;
  /** The answer is given this long after the review arrived at the latest. */
  readonly deadlineMs: number;
  /** What to do with kinds that carry no known pod spec. */
  readonly unknownKinds: 'allow' | 'deny';
  readonly metrics: Metrics;
  readonly logger: Logger;
}

interface Outcome {
  readonly site: ImageSite;
  readonly verdict: Verdict;
  /** The mode of the policy that gave the verdict. */
  readonly mode: Mode;
}

interface Problem {
  readonly mode: Mode;
  readonly text: string;
}

/** One policy every image is checked against: the checker's own (no key) or a namespace's. */
type Slot = { readonly mode: Mode } & ({ readonly key?: undefined } | ScopedPolicy);

function slotsFor(settings: AdmissionSettings, namespace: string): Slot[] {
  if (settings.policies === undefined) return [{ mode: settings.mode }];
  const scoped = settings.policies.policiesFor(namespace);
  return settings.policies.withFilePolicy ? [{ mode: settings.mode }, ...scoped] : [...scoped];
}

// The API server may truncate longer warnings; keep each readable whole.
const WARNING_MAX = 256;
const REASON_MAX = 512;

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function describe(outcome: Outcome): string {
  const { site, verdict } = outcome;
  const what = verdict.kind === 'error' ? 'could not be verified' : 'is not trusted';
  return `image ${JSON.stringify(site.image)} at ${site.path} ${what}: ${oneLine(verdict.reason, REASON_MAX)}`;
}

interface Deadline {
  readonly expired: Promise<'expired'>;
  cancel(): void;
}

function deadline(ms: number): Deadline {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), ms);
  });
  return { expired, cancel: () => clearTimeout(timer) };
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

interface PendingCheck {
  readonly progress: CheckProgress;
  verdict?: Verdict;
}

/**
 * Judges every image of the request; images still undecided when `remainingMs` has passed get
 * an error verdict saying what they were waiting for.
 */
async function judge(
  settings: AdmissionSettings,
  request: AdmissionRequest,
  sites: readonly ImageSite[],
  pod: { serviceAccountName: string; imagePullSecrets: readonly string[] },
  remainingMs: number,
): Promise<Outcome[]> {
  let slots: Slot[];
  try {
    slots = slotsFor(settings, request.namespace);
  } catch (err) {
    const reason = `reading the policies of namespace ${request.namespace}: ${(err as Error).message}`;
    return sites.map((site) => ({
      site,
      verdict: { kind: 'error', code: 'POLICY_NOT_LOADED', reason },
      mode: settings.mode,
    }));
  }
  const limit = deadline(remainingMs);
  const controller = new AbortController();
  try {
    const all = (verdict: Verdict) => sites.map((site) => ({ site, verdict, mode: settings.mode }));
    const secrets = settings.pullSecrets
      .secretsFor({ namespace: request.namespace, ...pod }, controller.signal)
      .then(
        (credentials): { credentials: PullCredentials } | { failure: string } => ({ credentials }),
        (err: unknown) => ({ failure: `reading pull secrets: ${(err as Error).message}` }),
      );
    const read = await Promise.race([secrets, limit.expired]);
    if (read === 'expired') {
      controller.abort();
      const reason = `no verdict within the ${seconds(settings.deadlineMs)} deadline: still reading pull secrets`;
      return all({ kind: 'error', code: 'DEADLINE', reason });
    }
    if ('failure' in read) return all({ kind: 'error', code: 'CREDENTIALS', reason: read.failure });
    const { credentials } = read;
    // Duplicate images within one request are checked once per policy.
    const checks = new Map<string, PendingCheck>();
    const done: Promise<void>[] = [];
    const checkKey = (slot: number, image: string) => `${slot}\0${image}`;
    slots.forEach((slot, index) => {
      for (const site of sites) {
        const key = checkKey(index, site.image);
        if (checks.has(key)) continue;
        const entry: PendingCheck = { progress: { stage: 'parsing' } };
        checks.set(key, entry);
        if ('failure' in slot) {
          entry.verdict = { kind: 'error', code: 'POLICY_INVALID', reason: slot.failure };
          continue;
        }
        const evaluator = 'evaluator' in slot ? slot.evaluator : undefined;
        done.push(
          settings.checker.check(site.image, credentials, entry.progress, evaluator).then((v) => {
            entry.verdict = v;
          }),
        );
      }
    });
    await Promise.race([Promise.all(done), limit.expired]);
    return slots.flatMap((slot, index) =>
      sites.map((site) => {
        const entry = checks.get(checkKey(index, site.image))!;
        const verdict: Verdict = entry.verdict ?? {
          kind: 'error',
          code: 'DEADLINE',
          reason: `no verdict within the ${seconds(settings.deadlineMs)} deadline: still ${entry.progress.stage}`,
        };
        // A refusal names the policy object that refused, so several policies stay tellable apart.
        const named =
          slot.key === undefined || verdict.kind === 'allowed'
            ? verdict
            : { ...verdict, reason: `${slot.key}: ${verdict.reason}` };
        return { site, verdict: named, mode: slot.mode };
      }),
    );
  } finally {
    limit.cancel();
  }
}

function pinningPatch(outcomes: readonly Outcome[]): string | undefined {
  const ops = [];
  const pinned = new Set<string>();
  for (const { site, verdict } of outcomes) {
    if (verdict.kind !== 'allowed' || !verdict.verified || verdict.digest === undefined) continue;
    if (site.image.includes('@') || pinned.has(site.pointer)) continue;
    // Pinned only when every policy admitted the image at this place.
    const others = outcomes.filter((o) => o.site.pointer === site.pointer);
    if (others.some((o) => o.verdict.kind !== 'allowed')) continue;
    pinned.add(site.pointer);
    ops.push({ op: 'replace', path: site.pointer, value: `${site.image}@${verdict.digest}` });
  }
  return ops.length === 0 ? undefined : Buffer.from(JSON.stringify(ops)).toString('base64');
}

function decide(
  uid: string,
  problems: readonly Problem[],
  extraWarnings: readonly string[],
): { response: AdmissionResponse; decision: Decision } {
  const extra = extraWarnings.map((w) => oneLine(w, WARNING_MAX));
  if (problems.length === 0) {
    return {
      response: { uid, allowed: true, ...(extra.length > 0 ? { warnings: extra } : {}) },
      decision: 'allowed',
    };
  }
  const of = (mode: Mode) => problems.filter((p) => p.mode === mode).map((p) => p.text);
  // The strictest mode among the refusing policies decides; warn-mode refusals always warn.
  const unknown = problems.find((p) => !MODES.includes(p.mode));
  const mode: Mode | undefined =
    unknown !== undefined
      ? unknown.mode
      : of('enforce').length > 0
        ? 'enforce'
        : of('warn').length > 0
          ? 'warn'
          : 'audit';
  const warnings = [...extra, ...of('warn').map((p) => oneLine(`portcullis: ${p}`, WARNING_MAX))];
  const summary = problems.map((p) => p.text).join('; ');
  const audit = { decision: '', mode, problems: oneLine(summary, 4096) };
  switch (mode) {
    case 'enforce':
      return {
        response: {
          uid,
          allowed: false,
          status: { code: 403, reason: 'Forbidden', message: of('enforce').join('; ') },
          ...(warnings.length > 0 ? { warnings } : {}),
          auditAnnotations: { ...audit, decision: 'denied' },
        },
        decision: 'denied',
      };
    case 'warn':
      return {
        response: {
          uid,
          allowed: true,
          warnings,
          auditAnnotations: { ...audit, decision: 'warned' },
        },
        decision: 'warned',
      };
    case 'audit':
      return {
        response: {
          uid,
          allowed: true,
          ...(warnings.length > 0 ? { warnings } : {}),
          auditAnnotations: { ...audit, decision: 'audited' },
        },
        decision: 'audited',
      };
    default:
      // An unknown mode never admits.
      return {
        response: {
          uid,
          allowed: false,
          status: { code: 500, message: `unknown mode ${String(mode)}` },
        },
        decision: 'denied',
      };
  }
}

/**
 * Answers one review. `mutate` adds a JSONPatch pinning verified digests, on Pods only. Never
 * throws; an unexpected failure denies in enforce mode and warns otherwise.
 */
export async function admit(
  settings: AdmissionSettings,
  body: unknown,
  mutate: boolean,
): Promise<{ status: number; review: AdmissionReviewResponse }> {
  const started = performance.now();
  let request: AdmissionRequest;
  try {
    request = parseReview(body);
  } catch (err) {
    const message = err instanceof WebhookError ? err.message : String(err);
    settings.metrics.admission('invalid', settings.mode, (performance.now() - started) / 1000);
    settings.logger.warn({ uid: salvageUid(body), err: message }, 'invalid admission review');
    return { status: 400, review: rejection(salvageUid(body), 400, message) };
  }
  let answer: { response: AdmissionResponse; decision: Decision };
  let outcomes: Outcome[] = [];
  try {
    const extraction = extractImages(request);
    switch (extraction.kind) {
      case 'none':
        answer = { response: { uid: request.uid, allowed: true }, decision: 'skipped' };
        break;
      case 'unsupported': {
        const note = `portcullis: kind ${extraction.what} is not a workload portcullis knows how to inspect`;
        answer =
          settings.unknownKinds === 'allow'
            ? { response: { uid: request.uid, allowed: true, warnings: [note] }, decision: 'skipped' }
            : decide(
                request.uid,
                [{ mode: settings.mode, text: `${note}, and unknown kinds are denied` }],
                [],
              );
        break;
      }
      case 'invalid':
        answer = decide(
          request.uid,
          [{ mode: settings.mode, text: `invalid object: ${extraction.message}` }],
          [],
        );
        break;
      case 'workload': {
        outcomes = await judge(
          settings,
          request,
          extraction.sites,
          extraction.pod,
          settings.deadlineMs - (performance.now() - started),
        );
        const problems = outcomes
          .filter((o) => o.verdict.kind !== 'allowed')
          .map((o) => ({ mode: o.mode, text: describe(o) }));
        answer = decide(request.uid, problems, []);
        if (mutate && extraction.isPod && answer.response.allowed) {
          const patch = pinningPatch(outcomes);
          if (patch !== undefined)
            answer = { ...answer, response: { ...answer.response, patchType: 'JSONPatch', patch } };
        }
        break;
      }
      default:
        throw new WebhookError('INTERNAL', 'unexpected extraction result');
    }
  } catch (err) {
    settings.logger.error({ uid: request.uid, err }, 'admission failed');
    answer = decide(
      request.uid,
      [{ mode: settings.mode, text: `internal error: ${(err as Error).message}` }],
      [],
    );
  }
  const elapsed = (performance.now() - started) / 1000;
  settings.metrics.admission(answer.decision, settings.mode, elapsed);
  // Admissions that needed no attention are logged at debug: at thousands per second the
  // line would cost more than the review.
  const level = answer.decision === 'allowed' || answer.decision === 'skipped' ? 'debug' : 'info';
  if (settings.logger.isLevelEnabled(level)) {
    const images = outcomes.map((o) => ({
      image: o.site.image,
      path: o.site.path,
      verdict: o.verdict.kind,
      reason: o.verdict.reason,
    }));
    const { uid, kind, namespace, name, operation, dryRun } = request;
    const fields = {
      uid,
      kind: kind.kind,
      namespace,
      name,
      operation,
      dryRun,
      decision: answer.decision,
      seconds: elapsed,
      images,
    };
    settings.logger[level](fields, 'admission reviewed');
  }
  return { status: 200, review: reviewResponse(answer.response) };
}
