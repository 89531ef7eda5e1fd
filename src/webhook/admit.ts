// One admission review in, one answer out, always within the deadline.
import type { CheckProgress, PullCredentials, PullSecretSource, Verdict } from '../policy/index.ts';
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
  /** Never throws. */
  check(image: string, credentials: PullCredentials, progress: CheckProgress): Promise<Verdict>;
}

/** One policy (or set of policies) every image must pass, and what its refusals do. */
export interface PolicyCheck {
  readonly mode: Mode;
  readonly checker: Checker;
}

export interface AdmissionSettings {
  /** The checks for images of pods in `namespace`; each must admit (AND), each in its own mode. */
  readonly checks: (namespace: string) => readonly PolicyCheck[];
  readonly pullSecrets: PullSecretSource;
  /** The mode of refusals no policy made: invalid objects, unknown kinds, internal errors. */
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
  readonly mode: Mode;
  readonly verdict: Verdict;
}

interface Problem {
  readonly mode: Mode;
  readonly text: string;
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
  readonly mode: Mode;
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
  const checks = settings.checks(request.namespace);
  if (checks.length === 0) return [];
  const limit = deadline(remainingMs);
  const controller = new AbortController();
  try {
    const all = (verdict: Verdict) =>
      checks.flatMap(({ mode }) => sites.map((site) => ({ site, mode, verdict })));
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
    // Duplicate images within one request are checked once per policy check.
    const pending = checks.map(() => new Map<string, PendingCheck>());
    const done: Promise<void>[] = [];
    for (const [i, { mode, checker }] of checks.entries()) {
      for (const site of sites) {
        if (pending[i]!.has(site.image)) continue;
        const entry: PendingCheck = { mode, progress: { stage: 'parsing' } };
        pending[i]!.set(site.image, entry);
        done.push(
          checker.check(site.image, credentials, entry.progress).then((v) => {
            entry.verdict = v;
          }),
        );
      }
    }
    await Promise.race([Promise.all(done), limit.expired]);
    return pending.flatMap((bySite) =>
      sites.map((site) => {
        const entry = bySite.get(site.image)!;
        const verdict: Verdict = entry.verdict ?? {
          kind: 'error',
          code: 'DEADLINE',
          reason: `no verdict within the ${seconds(settings.deadlineMs)} deadline: still ${entry.progress.stage}`,
        };
        return { site, mode: entry.mode, verdict };
      }),
    );
  } finally {
    limit.cancel();
  }
}

function pinningPatch(outcomes: readonly Outcome[]): string | undefined {
  // Several policies may verify one site: pin only a digest they agree on. For a multi-arch image
  // that is the index's digest (what the pod names), never an instance's: each node picks its own.
  const digests = new Map<ImageSite, Set<string>>();
  for (const { site, verdict } of outcomes) {
    if (verdict.kind !== 'allowed' || !verdict.verified || verdict.digest === undefined) continue;
    if (site.image.includes('@')) continue;
    digests.set(site, (digests.get(site) ?? new Set()).add(verdict.digest));
  }
  const ops = [];
  for (const [site, found] of digests) {
    if (found.size === 1)
      ops.push({ op: 'replace', path: site.pointer, value: `${site.image}@${[...found][0]}` });
  }
  return ops.length === 0 ? undefined : Buffer.from(JSON.stringify(ops)).toString('base64');
}

type Answer = { response: AdmissionResponse; decision: Decision; mode: Mode };

/** The strictest mode among the problems decides; the others' problems still show. */
function decide(
  settings: AdmissionSettings,
  uid: string,
  problems: readonly Problem[],
  extraWarnings: readonly string[],
): Answer {
  const warnings = extraWarnings.map((w) => oneLine(w, WARNING_MAX));
  if (problems.length === 0) {
    return {
      response: { uid, allowed: true, ...(warnings.length > 0 ? { warnings } : {}) },
      decision: 'allowed',
      mode: settings.mode,
    };
  }
  const of = (mode: Mode) => problems.filter((p) => p.mode === mode).map((p) => p.text);
  // MODES lists the strictest first; a mode outside it (a bad setting) falls to the default case.
  const mode = MODES.find((m) => of(m).length > 0);
  const audit = {
    decision: '',
    mode: String(mode),
    problems: oneLine(problems.map((p) => p.text).join('; '), 4096),
  };
  const warned = [...warnings, ...of('warn').map((p) => oneLine(`portcullis: ${p}`, WARNING_MAX))];
  const withWarnings = warned.length > 0 ? { warnings: warned } : {};
  switch (mode) {
    case 'enforce':
      return {
        response: {
          uid,
          allowed: false,
          status: { code: 403, reason: 'Forbidden', message: of('enforce').join('; ') },
          ...withWarnings,
          auditAnnotations: { ...audit, decision: 'denied' },
        },
        decision: 'denied',
        mode,
      };
    case 'warn':
      return {
        response: { uid, allowed: true, ...withWarnings, auditAnnotations: { ...audit, decision: 'warned' } },
        decision: 'warned',
        mode,
      };
    case 'audit':
      return {
        response: {
          uid,
          allowed: true,
          ...withWarnings,
          auditAnnotations: { ...audit, decision: 'audited' },
        },
        decision: 'audited',
        mode,
      };
    default:
      // An unknown mode never admits.
      return {
        response: { uid, allowed: false, status: { code: 500, message: `unknown mode ${String(mode)}` } },
        decision: 'denied',
        mode: settings.mode,
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
  let answer: Answer;
  let outcomes: Outcome[] = [];
  try {
    const extraction = extractImages(request);
    switch (extraction.kind) {
      case 'none':
        answer = { response: { uid: request.uid, allowed: true }, decision: 'skipped', mode: settings.mode };
        break;
      case 'unsupported': {
        const note = `portcullis: kind ${extraction.what} is not a workload portcullis knows how to inspect`;
        answer =
          settings.unknownKinds === 'allow'
            ? {
                response: { uid: request.uid, allowed: true, warnings: [note] },
                decision: 'skipped',
                mode: settings.mode,
              }
            : decide(
                settings,
                request.uid,
                [{ mode: settings.mode, text: `${note}, and unknown kinds are denied` }],
                [],
              );
        break;
      }
      case 'invalid':
        answer = decide(
          settings,
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
        answer = decide(settings, request.uid, problems, []);
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
      settings,
      request.uid,
      [{ mode: settings.mode, text: `internal error: ${(err as Error).message}` }],
      [],
    );
  }
  const elapsed = (performance.now() - started) / 1000;
  settings.metrics.admission(answer.decision, answer.mode, elapsed);
  // Admissions that needed no attention are logged at debug: at thousands per second the
  // line would cost more than the review.
  const level = answer.decision === 'allowed' || answer.decision === 'skipped' ? 'debug' : 'info';
  if (settings.logger.isLevelEnabled(level)) {
    const images = outcomes.map((o) => ({
      image: o.site.image,
      mode: o.mode,
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
