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

export interface AdmissionSettings {
  readonly checker: Checker;
  readonly pullSecrets: PullSecretSource;
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
  const limit = deadline(remainingMs);
  const controller = new AbortController();
  try {
    const all = (verdict: Verdict) => sites.map((site) => ({ site, verdict }));
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
    // Duplicate images within one request are checked once.
    const checks = new Map<string, PendingCheck>();
    const done: Promise<void>[] = [];
    for (const site of sites) {
      if (checks.has(site.image)) continue;
      const entry: PendingCheck = { progress: { stage: 'parsing' } };
      checks.set(site.image, entry);
      done.push(
        settings.checker.check(site.image, credentials, entry.progress).then((v) => {
          entry.verdict = v;
        }),
      );
    }
    await Promise.race([Promise.all(done), limit.expired]);
    return sites.map((site) => {
      const entry = checks.get(site.image)!;
      const verdict: Verdict = entry.verdict ?? {
        kind: 'error',
        code: 'DEADLINE',
        reason: `no verdict within the ${seconds(settings.deadlineMs)} deadline: still ${entry.progress.stage}`,
      };
      return { site, verdict };
    });
  } finally {
    limit.cancel();
  }
}

function pinningPatch(outcomes: readonly Outcome[]): string | undefined {
  const ops = [];
  for (const { site, verdict } of outcomes) {
    if (verdict.kind !== 'allowed' || !verdict.verified || verdict.digest === undefined) continue;
    if (site.image.includes('@')) continue;
    ops.push({ op: 'replace', path: site.pointer, value: `${site.image}@${verdict.digest}` });
  }
  return ops.length === 0 ? undefined : Buffer.from(JSON.stringify(ops)).toString('base64');
}

function decide(
  settings: AdmissionSettings,
  uid: string,
  problems: readonly string[],
  extraWarnings: readonly string[],
): { response: AdmissionResponse; decision: Decision } {
  const warnings = extraWarnings.map((w) => oneLine(w, WARNING_MAX));
  if (problems.length === 0) {
    return {
      response: { uid, allowed: true, ...(warnings.length > 0 ? { warnings } : {}) },
      decision: 'allowed',
    };
  }
  const summary = problems.join('; ');
  const audit = { decision: '', mode: settings.mode, problems: oneLine(summary, 4096) };
  switch (settings.mode) {
    case 'enforce':
      return {
        response: {
          uid,
          allowed: false,
          status: { code: 403, reason: 'Forbidden', message: summary },
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
          warnings: [...warnings, ...problems.map((p) => oneLine(`portcullis: ${p}`, WARNING_MAX))],
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
          status: { code: 500, message: `unknown mode ${String(settings.mode)}` },
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
            : decide(settings, request.uid, [`${note}, and unknown kinds are denied`], []);
        break;
      }
      case 'invalid':
        answer = decide(settings, request.uid, [`invalid object: ${extraction.message}`], []);
        break;
      case 'workload': {
        outcomes = await judge(
          settings,
          request,
          extraction.sites,
          extraction.pod,
          settings.deadlineMs - (performance.now() - started),
        );
        const problems = outcomes.filter((o) => o.verdict.kind !== 'allowed').map(describe);
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
    answer = decide(settings, request.uid, [`internal error: ${(err as Error).message}`], []);
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
