// `sync --report FILE` / `--report-configmap NAME`: what was mirrored and what failed, per image, as
// JSON (for people, CI, and the in-cluster mirror CronJob's ConfigMap).
import { writeFile } from 'node:fs/promises';
import type { CopyResult, SignatureCounts } from '../image/copy/index.ts';
import { BaseError } from '../image/index.ts';

export type SyncOutcome = 'copied' | 'skipped' | 'rejected' | 'failed' | 'not-attempted';

export interface ImageReport {
  readonly source: string;
  readonly destination: string;
  readonly result: SyncOutcome;
  /** The manifest digest written (or found, when skipped). */
  readonly digest?: string;
  readonly signatures: SignatureCounts;
  readonly error?: { readonly code?: string; readonly message: string };
}

export interface SyncReport {
  readonly apiVersion: 'portcullis.dev/sync-report/v1';
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly summary: Readonly<Record<SyncOutcome, number>> & { readonly images: number };
  readonly images: readonly ImageReport[];
  /** Why no image could be planned (the source could not be listed or read). */
  readonly error?: ImageReport['error'];
}

export interface JobOutcome {
  readonly source: string;
  readonly destination: string;
  readonly result?: CopyResult;
  readonly error?: unknown;
}

const NO_SIGNATURES: SignatureCounts = { copied: 0, created: 0, referrers: 0, attestations: 0 };

/** The innermost error code along the cause chain that says why (policy denial, registry error). */
function errorCode(err: unknown): string | undefined {
  let code: string | undefined;
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof BaseError && typeof e.code === 'string') code ??= e.code;
  }
  return code;
}

function errorReport(err: unknown): NonNullable<ImageReport['error']> {
  const code = errorCode(err);
  return {
    ...(code !== undefined ? { code } : {}),
    message: err instanceof Error ? err.message : String(err),
  };
}

function imageReport(job: JobOutcome): ImageReport {
  const base = { source: job.source, destination: job.destination };
  if (job.result !== undefined) {
    return {
      ...base,
      result: job.result.skipped ? 'skipped' : 'copied',
      digest: job.result.manifestDigest,
      signatures: job.result.signatures,
    };
  }
  if (job.error === undefined) return { ...base, result: 'not-attempted', signatures: NO_SIGNATURES };
  const error = errorReport(job.error);
  return {
    ...base,
    result: error.code === 'SOURCE_REJECTED' ? 'rejected' : 'failed',
    signatures: NO_SIGNATURES,
    error,
  };
}

export function buildSyncReport(
  startedAt: Date,
  finishedAt: Date,
  jobs: readonly JobOutcome[],
  planError?: unknown,
): SyncReport {
  const images = jobs.map(imageReport);
  const count = (r: SyncOutcome) => images.filter((i) => i.result === r).length;
  return {
    apiVersion: 'portcullis.dev/sync-report/v1',
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    summary: {
      images: images.length,
      copied: count('copied'),
      skipped: count('skipped'),
      rejected: count('rejected'),
      failed: count('failed'),
      'not-attempted': count('not-attempted'),
    },
    images,
    ...(planError !== undefined ? { error: errorReport(planError) } : {}),
  };
}

export async function writeSyncReport(path: string, report: SyncReport): Promise<void> {
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}

/**
 * The ConfigMap data of a report: `summary.json` always, `report.json` with every image unless
 * that would not fit in `limit` bytes, then only the images that did not succeed.
 */
export function reportConfigMapData(report: SyncReport, limit: number): Record<string, string> {
  const summary = JSON.stringify({
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    ...report.summary,
    ...(report.error !== undefined ? { error: report.error } : {}),
  });
  const full = JSON.stringify(report);
  if (Buffer.byteLength(full) + Buffer.byteLength(summary) <= limit)
    return { 'summary.json': summary, 'report.json': full };
  const problems = report.images.filter((i) => i.result !== 'copied' && i.result !== 'skipped');
  const partial = JSON.stringify({
    ...report,
    images: problems,
    truncated: 'only images that did not succeed',
  });
  return { 'summary.json': summary, 'report.json': partial };
}
