// One admission review in, one answer out, always within the deadline.
import { oneLine, truncate } from '../image/index.ts';
import {
  type CheckProgress,
  type ExceptionSource,
  exceptionFor,
  type ImageCheck,
  type PodCredentialContext,
  type PullCredentials,
  type PullSecretSource,
  type Verdict,
} from '../policy/index.ts';
import { type Extraction, extractImages, type ImageSite, type PodIdentity } from './images.ts';
import type { Logger } from './log.ts';
import type { Decision, Metrics } from './metrics.ts';
import {
  type AdmissionRequest,
  type AdmissionResponse,
  type AdmissionReviewResponse,
  parseReview,
  rejection,
  reviewResponse,
  STATUS_MESSAGE_MAX,
  salvageUid,
  WebhookError,
} from './review.ts';

/** enforce: deny; warn: admit with warnings; audit: admit, record only. */
export type Mode = 'enforce' | 'warn' | 'audit';
export const MODES: readonly Mode[] = ['enforce', 'warn', 'audit'];

/** What judges one image (policy/workload.ts: ImageChecker's contract). */
export type Checker = ImageCheck;

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
  /** The answer is given this long after the review arrived at the latest (reasons name it). */
  readonly deadlineMs: number;
  /** What to do with kinds that carry no known pod spec. */
  readonly unknownKinds: 'allow' | 'deny';
  /** Break-glass exceptions (ImageTrustException objects); absent: none. */
  readonly exceptions?: ExceptionSource;
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

// The API server (k8s.io/apiserver endpoints/filters/warning.go) keeps warnings of 4096
// characters in all; past that it cuts each to 256 and drops the rest, and it drops any warning
// holding a control character. Ours stay within both, so each arrives whole.
const WARNING_MAX = 256;
const WARNINGS_TOTAL_MAX = 4096;
// Room kept for the last warning, which says how many were left out.
const WARNINGS_OMITTED_ROOM = 64;
// Audit annotation values are stored as given in every audit event of the request
// (ValidatingAdmissionPolicy cuts its own at 10 KiB): ours stay well below.
const AUDIT_VALUE_MAX = 4096;
// Long enough for any valid reference: a 255-character name, a tag and a digest.
const IMAGE_ECHO_MAX = 512;
const REASON_MAX = 512;
const KIND_ECHO_MAX = 128;

function describe(outcome: Outcome): string {
  const { site, verdict } = outcome;
  const what = verdict.kind === 'error' ? 'could not be verified' : 'is not trusted';
  const image = JSON.stringify(truncate(site.image, IMAGE_ECHO_MAX));
  return `image ${image} at ${site.path} ${what}: ${oneLine(verdict.reason, REASON_MAX)}`;
}

/** Each warning on one line of at most WARNING_MAX, all of them within WARNINGS_TOTAL_MAX. */
function boundedWarnings(texts: readonly string[]): string[] {
  const kept: string[] = [];
  let total = 0;
  for (const [i, text] of texts.entries()) {
    const warning = oneLine(text, WARNING_MAX);
    const left = texts.length - i;
    const room = left === 1 ? WARNINGS_TOTAL_MAX : WARNINGS_TOTAL_MAX - WARNINGS_OMITTED_ROOM;
    if (total + warning.length > room) {
      kept.push(`portcullis: ${left} more warning${left === 1 ? '' : 's'} not shown`);
      break;
    }
    kept.push(warning);
    total += warning.length;
  }
  return kept;
}

const EXPIRED = Symbol('expired');

/** One review's deadline: a ticket in its webhook's Deadlines queue. */
class ReviewDeadline {
  readonly at: number;
  cancelled = false;
  #expired = false;
  #wake: (() => void) | undefined;

  constructor(at: number) {
    this.at = at;
  }

  expire(): void {
    this.#expired = true;
    this.#wake?.();
  }

  /** Settles as `work` does, or with EXPIRED when the deadline passes first. */
  race<T>(work: Promise<T>): Promise<T | typeof EXPIRED> {
    if (this.#expired) return Promise.resolve(EXPIRED);
    return new Promise((resolve, reject) => {
      this.#wake = () => resolve(EXPIRED);
      work.then(resolve, reject);
    });
  }
}

/**
 * The deadlines of one webhook's reviews on a single timer, instead of a timer per review. They
 * share one length, less a margin that moves slowly, so they expire in about arrival order: adding
 * and cancelling are O(1) or close, and the timer only wakes for the earliest. It holds the
 * process open only while a review waits.
 */
class Deadlines {
  #queue: ReviewDeadline[] = [];
  #head = 0;
  #live = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  start(at: number): ReviewDeadline {
    const deadline = new ReviewDeadline(at);
    let i = this.#queue.length;
    this.#queue.push(deadline);
    // Out of order only when the margin grew since earlier reviews: keep the queue sorted.
    while (i > this.#head && this.#queue[i - 1]!.at > at) {
      this.#queue[i] = this.#queue[i - 1]!;
      this.#queue[--i] = deadline;
    }
    if (++this.#live === 1) this.#timer?.ref();
    if (at < this.#timerAt) this.#arm(at);
    return deadline;
  }

  cancel(deadline: ReviewDeadline): void {
    if (deadline.cancelled) return;
    deadline.cancelled = true;
    if (--this.#live === 0) {
      this.#queue = [];
      this.#head = 0;
      this.#timer?.unref();
      return;
    }
    while (this.#head < this.#queue.length && this.#queue[this.#head]!.cancelled) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - performance.now()));
    if (this.#live === 0) this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    // Timers round to whole milliseconds: what is due within one counts as due.
    const now = performance.now() + 1;
    while (this.#head < this.#queue.length && this.#queue[this.#head]!.at <= now) {
      const due = this.#queue[this.#head]!;
      if (!due.cancelled) {
        this.cancel(due);
        due.expire();
      } else this.#head++;
    }
    const next = this.#queue[this.#head];
    if (next !== undefined) this.#arm(next.at);
  }
}

const deadlinesOf = new WeakMap<AdmissionSettings, Deadlines>();

function deadlines(settings: AdmissionSettings): Deadlines {
  let queue = deadlinesOf.get(settings);
  if (queue === undefined) {
    queue = new Deadlines();
    deadlinesOf.set(settings, queue);
  }
  return queue;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

/**
 * The images of `sites` a break-glass exception of `namespace` admits, with their verdicts
 * (admitted without verification); undefined when the namespace has none.
 */
function exceptedImages(
  settings: AdmissionSettings,
  namespace: string,
  sites: readonly ImageSite[],
): Map<string, Verdict> | undefined {
  const source = settings.exceptions;
  if (source === undefined || !source.has(namespace)) return undefined;
  const found = new Map<string, Verdict>();
  for (const { image } of sites) {
    const exception = exceptionFor(source, namespace, image);
    if (exception === undefined || found.has(image)) continue;
    source.used(exception, image);
    const { name, owner, reason, expiresAt } = exception;
    found.set(image, {
      kind: 'allowed',
      reason: `break-glass exception ${namespace}/${name}`,
      verified: false,
      exception: { namespace, name, owner, reason, expiresAt },
    });
  }
  return found;
}

interface PendingCheck {
  readonly mode: Mode;
  readonly progress: CheckProgress;
  verdict?: Verdict;
}

/**
 * The verdict each check gives each site, as far as it is known now (a break-glass exception, or
 * the checker's cache), in check-major order; `complete` when none is missing. Duplicate images
 * within a check are asked once.
 */
function knownVerdicts(
  checks: readonly PolicyCheck[],
  sites: readonly ImageSite[],
  credentials: PullCredentials,
  excepted: ReadonlyMap<string, Verdict> | undefined,
): { readonly verdicts: (Verdict | undefined)[]; readonly complete: boolean } {
  const verdicts: (Verdict | undefined)[] = [];
  let complete = true;
  for (const { checker } of checks) {
    const first = verdicts.length;
    for (let s = 0; s < sites.length; s++) {
      const image = sites[s]!.image;
      let verdict: Verdict | undefined;
      let seen = false;
      for (let earlier = 0; earlier < s && !seen; earlier++) {
        if (sites[earlier]!.image === image) {
          verdict = verdicts[first + earlier];
          seen = true;
        }
      }
      if (!seen) verdict = excepted?.get(image) ?? checker.cached?.(image, credentials);
      if (verdict === undefined) complete = false;
      verdicts.push(verdict);
    }
  }
  return { verdicts, complete };
}

/**
 * Judges every image of the request; images still undecided at the review's deadline (`started`
 * plus the deadline, less `margin`) get an error verdict saying what they were waiting for. When
 * the pull secrets and every verdict are known at once (the common case under load), the answer
 * takes no promise, deadline ticket or abort controller.
 */
function judge(
  settings: AdmissionSettings,
  request: AdmissionRequest,
  sites: readonly ImageSite[],
  pod: PodIdentity,
  started: number,
  margin: ReviewClock['margin'] | undefined,
): Outcome[] | Promise<Outcome[]> {
  const checks = settings.checks(request.namespace);
  if (checks.length === 0) return [];
  const context: PodCredentialContext = {
    namespace: request.namespace,
    serviceAccountName: pod.serviceAccountName,
    imagePullSecrets: pod.imagePullSecrets,
  };
  const excepted = exceptedImages(settings, request.namespace, sites);
  const credentials = settings.pullSecrets.knownSecretsFor?.(context);
  const known = credentials === undefined ? undefined : knownVerdicts(checks, sites, credentials, excepted);
  if (known?.complete === true) {
    const outcomes: Outcome[] = [];
    for (let i = 0; i < known.verdicts.length; i++) {
      outcomes.push({
        site: sites[i % sites.length]!,
        mode: checks[Math.floor(i / sites.length)]!.mode,
        verdict: known.verdicts[i]!,
      });
    }
    return outcomes;
  }
  const deadlineAt = started + settings.deadlineMs - (margin?.ms ?? 0);
  return judgeLater(settings, sites, context, deadlineAt, checks, excepted, known?.verdicts);
}

/** judge() for reviews that must wait: on the pull secrets, or on verdicts not cached. */
async function judgeLater(
  settings: AdmissionSettings,
  sites: readonly ImageSite[],
  context: PodCredentialContext,
  deadlineAt: number,
  checks: readonly PolicyCheck[],
  excepted: ReadonlyMap<string, Verdict> | undefined,
  known: readonly (Verdict | undefined)[] | undefined,
): Promise<Outcome[]> {
  const queue = deadlines(settings);
  const limit = queue.start(deadlineAt);
  const controller = new AbortController();
  try {
    const all = (verdict: Verdict) =>
      checks.flatMap(({ mode }) => sites.map((site) => ({ site, mode, verdict })));
    let read: PullCredentials | typeof EXPIRED;
    try {
      read = await limit.race(settings.pullSecrets.secretsFor(context, controller.signal));
    } catch (err) {
      const reason = `reading pull secrets: ${(err as Error).message}`;
      return all({ kind: 'error', code: 'CREDENTIALS', reason });
    }
    if (read === EXPIRED) {
      controller.abort();
      const reason = `no verdict within the ${seconds(settings.deadlineMs)} deadline: still reading pull secrets`;
      return all({ kind: 'error', code: 'DEADLINE', reason });
    }
    const credentials = read;
    // Duplicate images within one request are checked once per policy check.
    const pending = checks.map(() => new Map<string, PendingCheck>());
    const done: Promise<void>[] = [];
    for (const [i, { mode, checker }] of checks.entries()) {
      for (const [s, site] of sites.entries()) {
        if (pending[i]!.has(site.image)) continue;
        // What knownVerdicts found already is not asked again (nor counted again).
        const found =
          known?.[i * sites.length + s] ??
          excepted?.get(site.image) ??
          checker.cached?.(site.image, credentials);
        const entry: PendingCheck = { mode, progress: { stage: found === undefined ? 'parsing' : 'done' } };
        pending[i]!.set(site.image, entry);
        if (found !== undefined) {
          entry.verdict = found;
          continue;
        }
        done.push(
          checker.check(site.image, credentials, entry.progress, deadlineAt).then((v) => {
            entry.verdict = v;
          }),
        );
      }
    }
    if (done.length > 0) await limit.race(Promise.all(done));
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
    queue.cancel(limit);
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

/** What an answer says beside its decision: warnings for the user, annotations for the audit log. */
interface Notes {
  readonly warnings: readonly string[];
  readonly annotations: Readonly<Record<string, string>>;
}

const NO_NOTES: Notes = { warnings: [], annotations: {} };

function isoTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** What one note-worthy admitted image contributes: its warning, its audit record, and its count and log line. */
interface ImageNote {
  readonly warning: string;
  readonly record: string;
  readonly report: () => void;
}

/**
 * One note per distinct image whose allowed verdict `describe` finds note-worthy, and together
 * one audit annotation under `annotation`.
 */
function imageNotes(
  outcomes: readonly Outcome[],
  annotation: string,
  describe: (site: ImageSite, verdict: Extract<Verdict, { kind: 'allowed' }>) => ImageNote | undefined,
): Notes {
  const warnings: string[] = [];
  const records: string[] = [];
  const seen = new Set<string>();
  for (const { site, verdict } of outcomes) {
    if (verdict.kind !== 'allowed' || seen.has(site.image)) continue;
    const note = describe(site, verdict);
    if (note === undefined) continue;
    seen.add(site.image);
    warnings.push(note.warning);
    records.push(note.record);
    note.report();
  }
  if (records.length === 0) return NO_NOTES;
  return { warnings, annotations: { [annotation]: oneLine(records.join('; '), AUDIT_VALUE_MAX) } };
}

/**
 * Images admitted on a last-known-good verification (stale-if-error) or by a break-glass
 * exception: each gets a warning, a log line and a count; each kind one audit annotation.
 */
function admissionNotes(settings: AdmissionSettings, uid: string, outcomes: readonly Outcome[]): Notes {
  if (
    !outcomes.some(
      ({ verdict: v }) => v.kind === 'allowed' && (v.stale !== undefined || v.exception !== undefined),
    )
  )
    return NO_NOTES;
  const stale = imageNotes(outcomes, 'stale-if-error', (site, verdict) => {
    if (verdict.stale === undefined) return undefined;
    const { verifiedAt, resolvedAt, code, cause } = verdict.stale;
    const tag = resolvedAt === undefined ? '' : `, its tag last resolved ${isoTime(resolvedAt)}`;
    return {
      warning: `portcullis: image ${JSON.stringify(site.image)} admitted on its verification of ${isoTime(verifiedAt)}${tag}: the registry is failing (${code})`,
      record: `${oneLine(site.image, REASON_MAX)}@${verdict.digest ?? ''} verified ${isoTime(verifiedAt)}${tag} (${code})`,
      report() {
        settings.metrics.staleAdmission(code);
        const fields = { uid, image: site.image, digest: verdict.digest, verifiedAt, resolvedAt, code };
        settings.logger.warn(
          { ...fields, cause: oneLine(cause, REASON_MAX) },
          'image admitted from a last-known-good verification',
        );
      },
    };
  });
  const excepted = imageNotes(outcomes, 'break-glass', (site, verdict) => {
    if (verdict.exception === undefined) return undefined;
    const { namespace, name, owner, reason, expiresAt } = verdict.exception;
    const by = `${namespace}/${name}`;
    return {
      warning: `portcullis: image ${JSON.stringify(site.image)} admitted WITHOUT verification by break-glass exception ${by} (owner ${owner}, until ${isoTime(expiresAt)}): ${reason}`,
      record: `${oneLine(site.image, REASON_MAX)} by ${by} (owner ${oneLine(owner, 256)}, until ${isoTime(expiresAt)})`,
      report() {
        settings.metrics.exceptionAdmission(namespace);
        const fields = { uid, image: site.image, exception: by, owner };
        settings.logger.warn(
          { ...fields, reason: oneLine(reason, REASON_MAX) },
          'image admitted by a break-glass exception',
        );
      },
    };
  });
  return {
    warnings: [...stale.warnings, ...excepted.warnings],
    annotations: { ...stale.annotations, ...excepted.annotations },
  };
}

/** The strictest mode among the problems decides; the others' problems still show. */
function decide(
  settings: AdmissionSettings,
  uid: string,
  problems: readonly Problem[],
  notes: Notes = NO_NOTES,
): Answer {
  // The common answer, built without the spreads below.
  if (problems.length === 0 && notes === NO_NOTES)
    return { response: { uid, allowed: true }, decision: 'allowed', mode: settings.mode };
  const annotations =
    Object.keys(notes.annotations).length > 0 ? { auditAnnotations: notes.annotations } : {};
  if (problems.length === 0) {
    const warnings = boundedWarnings(notes.warnings);
    return {
      response: { uid, allowed: true, ...(warnings.length > 0 ? { warnings } : {}), ...annotations },
      decision: 'allowed',
      mode: settings.mode,
    };
  }
  const of = (mode: Mode) => problems.filter((p) => p.mode === mode).map((p) => p.text);
  // MODES lists the strictest first; a mode outside it (a bad setting) falls to the default case.
  const mode = MODES.find((m) => of(m).length > 0);
  const audit = {
    ...notes.annotations,
    decision: '',
    mode: String(mode),
    problems: oneLine(problems.map((p) => p.text).join('; '), AUDIT_VALUE_MAX),
  };
  const warned = boundedWarnings([...notes.warnings, ...of('warn').map((p) => `portcullis: ${p}`)]);
  const withWarnings = warned.length > 0 ? { warnings: warned } : {};
  switch (mode) {
    case 'enforce':
      return {
        response: {
          uid,
          allowed: false,
          status: {
            code: 403,
            reason: 'Forbidden',
            message: truncate(of('enforce').join('; '), STATUS_MESSAGE_MAX),
          },
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

/** When a review's clock started, and how long before its deadline it stops waiting. */
export interface ReviewClock {
  /** `performance.now()` when the request arrived (before its body was read). */
  readonly arrivedAt: number;
  /** How early the deadline fires, so the answer is written before it; read only by reviews that wait. */
  readonly margin: { readonly ms: number };
}

/** What `admit` answers: the HTTP status and the AdmissionReview to send. */
export interface Reviewed {
  readonly status: number;
  readonly review: AdmissionReviewResponse;
}

/**
 * Answers one review. `mutate` adds a JSONPatch pinning verified digests, on Pods only. Never
 * throws or rejects; an unexpected failure denies in enforce mode and warns otherwise. Without
 * `clock`, the deadline counts from the call and fires on time. The answer is given at once,
 * without a promise, when nothing has to be waited for (every verdict cached, or no images).
 */
export function admit(
  settings: AdmissionSettings,
  body: unknown,
  mutate: boolean,
  clock?: ReviewClock,
): Reviewed | Promise<Reviewed> {
  const started = clock?.arrivedAt ?? performance.now();
  let request: AdmissionRequest;
  try {
    request = parseReview(body);
  } catch (err) {
    const message = truncate(err instanceof WebhookError ? err.message : String(err), STATUS_MESSAGE_MAX);
    settings.metrics.admission('invalid', settings.mode, (performance.now() - started) / 1000);
    settings.logger.warn({ uid: salvageUid(body), err: message }, 'invalid admission review');
    return { status: 400, review: rejection(salvageUid(body), 400, message) };
  }
  let extraction: Extraction;
  let judged: Outcome[] | Promise<Outcome[]>;
  try {
    extraction = extractImages(request);
    if (extraction.kind !== 'workload')
      return finish(settings, request, started, imagelessAnswer(settings, request, extraction), NO_OUTCOMES);
    judged = judge(settings, request, extraction.sites, extraction.pod, started, clock?.margin);
  } catch (err) {
    return failed(settings, request, started, err);
  }
  const pin = mutate && extraction.isPod;
  if (Array.isArray(judged)) return concluded(settings, request, started, judged, pin);
  return judged.then(
    (outcomes) => concluded(settings, request, started, outcomes, pin),
    (err: unknown) => failed(settings, request, started, err),
  );
}

const NO_OUTCOMES: readonly Outcome[] = Object.freeze([]);

/** The answer for a review whose object runs no images (or cannot be read as a workload). */
function imagelessAnswer(
  settings: AdmissionSettings,
  request: AdmissionRequest,
  extraction: Exclude<Extraction, { kind: 'workload' }>,
): Answer {
  switch (extraction.kind) {
    case 'none':
      return { response: { uid: request.uid, allowed: true }, decision: 'skipped', mode: settings.mode };
    case 'unsupported': {
      const kind = truncate(extraction.what, KIND_ECHO_MAX);
      const note = `portcullis: kind ${kind} is not a workload portcullis knows how to inspect`;
      return settings.unknownKinds === 'allow'
        ? {
            response: { uid: request.uid, allowed: true, warnings: boundedWarnings([note]) },
            decision: 'skipped',
            mode: settings.mode,
          }
        : decide(settings, request.uid, [
            { mode: settings.mode, text: `${note}, and unknown kinds are denied` },
          ]);
    }
    case 'invalid':
      return decide(settings, request.uid, [
        { mode: settings.mode, text: `invalid object: ${extraction.message}` },
      ]);
    default:
      throw new WebhookError('INTERNAL', 'unexpected extraction result');
  }
}

/** The answer for the verdicts on a workload's images; `pin` adds the digest-pinning patch. */
function workloadAnswer(
  settings: AdmissionSettings,
  uid: string,
  outcomes: readonly Outcome[],
  pin: boolean,
): Answer {
  const problems: Problem[] = [];
  for (const o of outcomes)
    if (o.verdict.kind !== 'allowed') problems.push({ mode: o.mode, text: describe(o) });
  const answer = decide(settings, uid, problems, admissionNotes(settings, uid, outcomes));
  if (!pin || !answer.response.allowed) return answer;
  const patch = pinningPatch(outcomes);
  return patch === undefined
    ? answer
    : { ...answer, response: { ...answer.response, patchType: 'JSONPatch', patch } };
}

/** The answer for a workload's verdicts, counted and logged; an unexpected failure as failed(). */
function concluded(
  settings: AdmissionSettings,
  request: AdmissionRequest,
  started: number,
  outcomes: Outcome[],
  pin: boolean,
): Reviewed {
  let answer: Answer;
  try {
    answer = workloadAnswer(settings, request.uid, outcomes, pin);
  } catch (err) {
    return failed(settings, request, started, err);
  }
  return finish(settings, request, started, answer, outcomes);
}

/** What an unexpected failure answers (denied in enforce mode, warned otherwise), counted and logged. */
function failed(
  settings: AdmissionSettings,
  request: AdmissionRequest,
  started: number,
  err: unknown,
): Reviewed {
  settings.logger.error({ uid: request.uid, err }, 'admission failed');
  const answer = decide(settings, request.uid, [
    { mode: settings.mode, text: `internal error: ${(err as Error).message}` },
  ]);
  return finish(settings, request, started, answer, NO_OUTCOMES);
}

/** Counts and logs an answer, and shapes it as the AdmissionReview to send. */
function finish(
  settings: AdmissionSettings,
  request: AdmissionRequest,
  started: number,
  answer: Answer,
  outcomes: readonly Outcome[],
): Reviewed {
  const elapsed = (performance.now() - started) / 1000;
  settings.metrics.admission(answer.decision, answer.mode, elapsed);
  // Admissions that needed no attention are logged at debug: at thousands per second the
  // line would cost more than the review.
  const level = answer.decision === 'allowed' || answer.decision === 'skipped' ? 'debug' : 'info';
  if (settings.logger.isLevelEnabled(level)) {
    const images = outcomes.map((o) => ({
      image: truncate(o.site.image, IMAGE_ECHO_MAX),
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
