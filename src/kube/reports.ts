// Results of running images as policy reports: per namespace, one result per image per workload
// owner, in the wg-policy API (wgpolicyk8s.io/v1alpha2 PolicyReport, what Policy Reporter and
// Kyverno read by default) and/or OpenReports (openreports.io/v1alpha1 Report, Kyverno 1.15+ with
// --openreportsEnabled); both have the same result fields. A namespace whose report would pass
// etcd's object size limit gets several, its owners spread over them by a hash of their uid, so
// one owner's change rewrites one of them. Nothing is written when nothing changed.
import { createHash } from 'node:crypto';
import { truncate } from '../image/index.ts';
import type { ImageFinding, RunningResult } from '../policy/running.ts';
import { Informer, type InformerOptions } from './informer.ts';
import { type Rest, TransformingListWatch } from './rest.ts';
import { KubeError, type KubeObject } from './types.ts';

export type ReportApi = 'wgpolicyk8s' | 'openreports';
export const REPORT_APIS: readonly ReportApi[] = ['wgpolicyk8s', 'openreports'];

const API: Readonly<Record<ReportApi, { group: string; version: string; kind: string; plural: string }>> = {
  wgpolicyk8s: {
    group: 'wgpolicyk8s.io',
    version: 'v1alpha2',
    kind: 'PolicyReport',
    plural: 'policyreports',
  },
  openreports: { group: 'openreports.io', version: 'v1alpha1', kind: 'Report', plural: 'reports' },
};

export const REPORT_LABEL = 'portcullis.dev/report';
export const REPORT_LABEL_VALUE = 'running-images';
export const SOURCE = 'portcullis';
const BASE_NAME = 'portcullis-images';
/**
 * The serialized results of one report stay under this: etcd refuses objects over 1.5 MiB
 * (its default --max-request-bytes), and the object carries metadata and managedFields too.
 */
export const MAX_REPORT_BYTES = 1_000_000;
const MAX_SHARDS = 256;

export interface ReportResult {
  readonly source: string;
  readonly policy: string;
  readonly rule: string;
  readonly category: string;
  readonly result: RunningResult;
  readonly scored: boolean;
  readonly timestamp: { readonly seconds: number; readonly nanos: number };
  readonly message: string;
  readonly resources: readonly {
    readonly apiVersion: string;
    readonly kind: string;
    readonly name: string;
    readonly namespace: string;
    readonly uid: string;
  }[];
  readonly properties: Readonly<Record<string, string>>;
}

export interface Summary {
  pass: number;
  fail: number;
  warn: number;
  error: number;
  skip: number;
}

/** A report as this module writes it (before apiVersion/kind of the chosen API). */
export interface ReportBody {
  readonly name: string;
  readonly namespace: string;
  readonly summary: Summary;
  readonly results: readonly ReportResult[];
}

/** What one earlier result said: where an unchanged result keeps its timestamp, and what a change is. */
export interface KnownResult {
  readonly result: RunningResult;
  readonly message: string;
  readonly seconds: number;
}

/** What each result of `reports` says, by resultKey. */
export function knownResults(reports: readonly ReportBody[]): Map<string, KnownResult> {
  const out = new Map<string, KnownResult>();
  for (const report of reports) {
    for (const r of report.results) {
      const uid = r.resources[0]?.uid ?? '';
      out.set(resultKey(uid, r.properties.image ?? ''), {
        result: r.result,
        message: r.message,
        seconds: r.timestamp.seconds,
      });
    }
  }
  return out;
}

/** `ownerUid\0image`: one result. */
export const resultKey = (ownerUid: string, image: string) => `${ownerUid}\0${image}`;

const IMAGE_MAX = 1024;

function toResult(f: ImageFinding, seconds: number): ReportResult {
  const properties: Record<string, string> = { image: truncate(f.image, IMAGE_MAX), pods: String(f.pods) };
  if (f.mode !== undefined) properties.mode = f.mode;
  if (f.digest !== undefined) properties.digest = f.digest;
  if (f.ownerNote !== undefined) properties.owner = f.ownerNote;
  return {
    source: SOURCE,
    policy: truncate(f.policies || 'none', 253),
    rule: 'image-trust',
    category: 'Image Trust',
    result: f.result,
    scored: true,
    timestamp: { seconds, nanos: 0 },
    message: f.message,
    resources: [
      {
        apiVersion: f.owner.apiVersion,
        kind: f.owner.kind,
        name: f.owner.name,
        namespace: f.namespace,
        uid: f.owner.uid,
      },
    ],
    properties,
  };
}

/** FNV-1a: a stable spread of owners over shards. */
function shardOf(uid: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < uid.length; i++) h = Math.imul(h ^ uid.charCodeAt(i), 0x01000193) >>> 0;
  return h % shards;
}

const nameOf = (shard: number, shards: number) =>
  shards === 1 ? BASE_NAME : `${BASE_NAME}-${shard + 1}-of-${shards}`;

function summarize(results: readonly ReportResult[]): Summary {
  const s: Summary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const r of results) s[r.result]++;
  return s;
}

/**
 * The reports of one namespace for `findings` (all of that namespace's): results keep the
 * timestamp of an unchanged earlier result (`known`), are sorted, and spread over as few
 * reports as keep each under `maxBytes`.
 */
export function namespaceReports(
  namespace: string,
  findings: readonly ImageFinding[],
  known: ReadonlyMap<string, KnownResult>,
  nowSeconds: number,
  maxBytes = MAX_REPORT_BYTES,
): ReportBody[] {
  if (findings.length === 0) return [];
  const results = findings
    .map((f) => {
      const before = known.get(resultKey(f.owner.uid, f.image));
      const same = before !== undefined && before.result === f.result && before.message === f.message;
      return toResult(f, same ? before.seconds : nowSeconds);
    })
    .sort((a, b) => {
      const x = a.resources[0]!;
      const y = b.resources[0]!;
      return (
        x.kind.localeCompare(y.kind) ||
        x.name.localeCompare(y.name) ||
        x.uid.localeCompare(y.uid) ||
        (a.properties.image ?? '').localeCompare(b.properties.image ?? '')
      );
    });
  const sizes = results.map((r) => JSON.stringify(r).length + 1);
  for (let shards = 1; ; shards *= 2) {
    const buckets: ReportResult[][] = Array.from({ length: shards }, () => []);
    const bytes = new Array<number>(shards).fill(0);
    results.forEach((r, i) => {
      const s = shardOf(r.resources[0]!.uid, shards);
      buckets[s]!.push(r);
      bytes[s]! += sizes[i]!;
    });
    if (bytes.every((b) => b <= maxBytes) || shards >= MAX_SHARDS) {
      return buckets.flatMap((bucket, s) =>
        bucket.length === 0 && shards > 1
          ? []
          : [{ name: nameOf(s, shards), namespace, summary: summarize(bucket), results: bucket }],
      );
    }
  }
}

/** Equal for two reports exactly when what this module writes in them is equal. */
export function fingerprint(summary: unknown, results: readonly unknown[]): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(summary ?? {}, ['pass', 'fail', 'warn', 'error', 'skip']));
  for (const r of results) {
    const o = r as Partial<ReportResult>;
    const res = o.resources?.[0];
    const props = Object.entries(o.properties ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    hash.update(
      JSON.stringify([
        o.source,
        o.policy,
        o.rule,
        o.category,
        o.result,
        o.scored,
        o.timestamp?.seconds,
        o.message,
        res?.apiVersion,
        res?.kind,
        res?.name,
        res?.namespace,
        res?.uid,
        props,
      ]),
    );
  }
  return hash.digest('hex');
}

/** What is kept of a report in the cache: its identity, its fingerprint, and each result's gist. */
interface SlimReport extends KubeObject {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly resourceVersion: string | undefined;
  };
  readonly fingerprint: string;
  readonly known: ReadonlyMap<string, KnownResult>;
}

function slimReport(object: unknown): SlimReport | undefined {
  const o = object as {
    metadata?: { name?: string; namespace?: string; resourceVersion?: string };
    summary?: unknown;
    results?: unknown;
  };
  const name = o.metadata?.name;
  const namespace = o.metadata?.namespace;
  if (name === undefined || namespace === undefined) return undefined;
  const results = Array.isArray(o.results) ? (o.results as Partial<ReportResult>[]) : [];
  const known = new Map<string, KnownResult>();
  for (const r of results) {
    const uid = r.resources?.[0]?.uid;
    const image = r.properties?.image;
    if (uid === undefined || image === undefined || r.result === undefined) continue;
    known.set(resultKey(uid, image), {
      result: r.result,
      message: r.message ?? '',
      seconds: r.timestamp?.seconds ?? 0,
    });
  }
  return {
    metadata: { name, namespace, resourceVersion: o.metadata?.resourceVersion },
    fingerprint: fingerprint(o.summary, results),
    known,
  };
}

export interface ReportWrites {
  applied: number;
  deleted: number;
}

/** The reports of one API this process manages: a cache of what exists, and their writes. */
export class ReportStore {
  readonly api: ReportApi;
  readonly #rest: Rest;
  readonly #watched: TransformingListWatch<SlimReport>;
  readonly #informer: Informer<SlimReport>;

  constructor(rest: Rest, api: ReportApi, informer: InformerOptions) {
    this.api = api;
    this.#rest = rest;
    const { group, version, plural } = API[api];
    this.#watched = new TransformingListWatch<SlimReport>(rest, {
      path: `/apis/${group}/${version}/${plural}`,
      labelSelector: `${REPORT_LABEL}=${REPORT_LABEL_VALUE}`,
      // Reports run up to 1 MB each: a few per page.
      pageSize: 10,
      transform: slimReport,
    });
    this.#informer = new Informer(this.#watched, informer);
  }

  start(): Promise<void> {
    return this.#informer.start();
  }

  stop(): Promise<void> {
    return this.#informer.stop();
  }

  ready(): boolean {
    return this.#informer.synced;
  }

  /** The namespaces holding reports of this process. */
  namespaces(): Set<string> {
    return new Set(this.#watched.list().map((r) => r.metadata.namespace));
  }

  /** The results the namespace's reports hold now, by resultKey. */
  known(namespace: string): Map<string, KnownResult> {
    const out = new Map<string, KnownResult>();
    for (const r of this.#watched.list()) {
      if (r.metadata.namespace !== namespace) continue;
      for (const [k, v] of r.known) out.set(k, v);
    }
    return out;
  }

  /** Makes the namespace's reports exactly `desired`: applies those that differ, deletes the others. */
  async reconcile(namespace: string, desired: readonly ReportBody[]): Promise<ReportWrites> {
    const writes: ReportWrites = { applied: 0, deleted: 0 };
    const wanted = new Set(desired.map((d) => d.name));
    for (const body of desired) {
      const print = fingerprint(body.summary, body.results);
      if (this.#watched.get(body.name, namespace)?.fingerprint === print) continue;
      // The answer goes into the cache at once: a scan before the watch shows it compares with it.
      this.#watched.put(await this.#apply(body));
      writes.applied++;
    }
    for (const r of this.#watched.list()) {
      if (r.metadata.namespace !== namespace || wanted.has(r.metadata.name)) continue;
      await this.#delete(namespace, r.metadata.name);
      this.#watched.forget(r.metadata.name, namespace);
      writes.deleted++;
    }
    return writes;
  }

  #path(namespace: string, name?: string): string {
    const { group, version, plural } = API[this.api];
    const base = `/apis/${group}/${version}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  async #apply(body: ReportBody): Promise<unknown> {
    const { group, version, kind } = API[this.api];
    const object = {
      apiVersion: `${group}/${version}`,
      kind,
      metadata: {
        name: body.name,
        namespace: body.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'portcullis', [REPORT_LABEL]: REPORT_LABEL_VALUE },
      },
      ...(this.api === 'openreports' ? { source: SOURCE } : {}),
      summary: body.summary,
      results: body.results,
    };
    return this.#rest.request('PATCH', this.#path(body.namespace, body.name), {
      query: { fieldManager: 'portcullis', force: 'true' },
      contentType: 'application/apply-patch+yaml',
      body: object,
    });
  }

  async #delete(namespace: string, name: string): Promise<void> {
    try {
      await this.#rest.request('DELETE', this.#path(namespace, name));
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 'NOT_FOUND')) throw err;
    }
  }
}
