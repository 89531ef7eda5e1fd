// Plain REST against the API server with a kubeconfig's credentials, for what client-node's typed
// clients do badly at scale: lists read page by page and watches whose objects are reduced to what
// the caller keeps as they arrive (a Pod's images and owner, never the whole Pod), metadata-only
// lists (PartialObjectMetadata), server-side apply of any resource, and bounded response sizes.
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeError, type KubeObject, type Watched } from './types.ts';

export interface RestRequest {
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly accept?: string;
  readonly timeoutMs?: number;
  /** Responses larger than this fail (default 64 MiB: a page of 500 pods is a few MiB). */
  readonly maxBytes?: number;
}

export interface Rest {
  /** One request; a non-2xx status throws KubeError (NOT_FOUND, CONFLICT, API_ERROR) with the server's message. */
  request(method: string, path: string, options?: RestRequest): Promise<unknown>;
  /**
   * A watch: each event line parsed and handed to `onEvent` as it arrives. Resolves when the
   * server ends the watch or `signal` aborts; rejects on a failure (a 410 Gone is KubeError GONE).
   */
  watch(
    path: string,
    query: Readonly<Record<string, string | undefined>>,
    accept: string | undefined,
    onEvent: (type: string, object: unknown) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BYTES = 64 << 20;
/** A watch line longer than this is refused: etcd holds objects up to 1.5 MiB. */
const MAX_EVENT_BYTES = 8 << 20;
/** A quiet watch is restarted after this long (the server ends it sooner: timeoutSeconds). */
const WATCH_IDLE_MS = 6 * 60_000;

function statusError(context: string, status: number, text: string): KubeError {
  let detail = '';
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof message === 'string') detail = `: ${message.slice(0, 512)}`;
  } catch {
    // not a Status object
  }
  const code =
    status === 404 ? 'NOT_FOUND' : status === 409 ? 'CONFLICT' : status === 410 ? 'GONE' : 'API_ERROR';
  return new KubeError(code, `${context}: HTTP ${status}${detail}`);
}

function url(server: string, path: string, query: RestRequest['query']): URL {
  const u = new URL(`${server.replace(/\/$/, '')}${path}`);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, v);
  return u;
}

/** REST over a kubeconfig: its server, CA, client certificate or token (re-read per request). */
export class KubeRest implements Rest {
  readonly #kc: KubeConfig;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
  }

  async #options(method: string, headers: Record<string, string>): Promise<RequestOptions> {
    const options: RequestOptions & { headers: Record<string, string> } = { method, headers };
    await this.#kc.applyToHTTPSOptions(options);
    return options;
  }

  #server(): string {
    const server = this.#kc.getCurrentCluster()?.server;
    if (server === undefined) throw new KubeError('API_ERROR', 'kubeconfig: no current cluster');
    return server;
  }

  async request(method: string, path: string, options: RestRequest = {}): Promise<unknown> {
    const target = url(this.#server(), path, options.query);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { accept: options.accept ?? 'application/json' };
    if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const requestOptions = await this.#options(method, headers);
    const context = `${method} ${target.pathname}`;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const send = target.protocol === 'http:' ? httpRequest : httpsRequest;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(target, { ...requestOptions, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            req.destroy(new KubeError('API_ERROR', `${context}: response larger than ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      });
      req.on('timeout', () =>
        req.destroy(new KubeError('API_ERROR', `${context}: no answer within ${timeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end(body);
    }).catch((err: unknown) => {
      if (err instanceof KubeError) throw err;
      throw new KubeError('API_ERROR', `${context}: ${(err as Error).message}`, { cause: err });
    });
    if (status < 200 || status > 299) throw statusError(context, status, text);
    try {
      return text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new KubeError('API_ERROR', `${context}: the answer is not JSON`);
    }
  }

  async watch(
    path: string,
    query: Readonly<Record<string, string | undefined>>,
    accept: string | undefined,
    onEvent: (type: string, object: unknown) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const target = url(this.#server(), path, { ...query, watch: 'true' });
    const requestOptions = await this.#options('GET', { accept: accept ?? 'application/json' });
    const context = `watching ${target.pathname}`;
    const send = target.protocol === 'http:' ? httpRequest : httpsRequest;
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const req = send(target, { ...requestOptions, signal, timeout: WATCH_IDLE_MS }, (res) => {
        if (res.statusCode !== 200) {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (text.length < 65536) text += chunk;
          });
          res.on('end', () => reject(statusError(context, res.statusCode ?? 0, text)));
          res.on('error', reject);
          return;
        }
        const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
        // readline re-emits the response's error (a cut connection, or our own abort at shutdown)
        // on the interface: unhandled there, it would end the process.
        lines.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
        lines.on('line', (line) => {
          if (line.length > MAX_EVENT_BYTES) {
            req.destroy(
              new KubeError('API_ERROR', `${context}: an event larger than ${MAX_EVENT_BYTES} bytes`),
            );
            return;
          }
          let event: { type?: unknown; object?: unknown };
          try {
            event = JSON.parse(line) as typeof event;
          } catch {
            req.destroy(new KubeError('API_ERROR', `${context}: an event that is not JSON`));
            return;
          }
          if (event.type === 'ERROR') {
            const status = event.object as { code?: unknown; message?: unknown } | undefined;
            const code = typeof status?.code === 'number' ? status.code : 500;
            req.destroy(statusError(context, code, JSON.stringify(status ?? {})));
            return;
          }
          if (typeof event.type === 'string') onEvent(event.type, event.object);
        });
        res.on('end', () => resolve());
        res.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
      });
      req.on('timeout', () => req.destroy());
      req.on('close', () => resolve());
      req.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
      req.end();
    }).catch((err: unknown) => {
      if (err instanceof KubeError) throw err;
      throw new KubeError('API_ERROR', `${context}: ${(err as Error).message}`, { cause: err });
    });
  }
}

export interface ListWatchOptions<T extends KubeObject> {
  /** e.g. /api/v1/pods or /apis/apps/v1/namespaces/x/replicasets */
  readonly path: string;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
  /** Read PartialObjectMetadata (metadata only) instead of whole objects. */
  readonly metadataOnly?: boolean;
  /** Objects per list page. */
  readonly pageSize?: number;
  /**
   * What is kept of each object as it arrives (list pages and watch events alike); undefined
   * drops it. The result must keep metadata.name, namespace and resourceVersion.
   */
  readonly transform: (object: unknown) => T | undefined;
  /** When a new version is the same as the kept one for the caller, it is not reported as an update. */
  readonly same?: (kept: T, next: T) => boolean;
}

const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

type Handler<T> = (obj: T) => void;

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

const keyOf = (o: KubeObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/**
 * A list+watch cache (the Watched contract the Informer restarts) holding transformed objects:
 * the list is read in pages, each page transformed and dropped before the next is read.
 */
export class TransformingListWatch<T extends KubeObject> implements Watched<T> {
  readonly #rest: Rest;
  readonly #o: ListWatchOptions<T>;
  readonly #objects = new Map<string, T>();
  readonly #handlers = {
    add: [] as Handler<T>[],
    update: [] as Handler<T>[],
    delete: [] as Handler<T>[],
    error: [] as ((err: unknown) => void)[],
  };
  #resourceVersion = '';
  #abort: AbortController | undefined;

  constructor(rest: Rest, options: ListWatchOptions<T>) {
    this.#rest = rest;
    this.#o = options;
  }

  on(event: 'add' | 'update' | 'delete', handler: (obj: T) => void): void;
  on(event: 'error', handler: (err: unknown) => void): void;
  on(event: 'add' | 'update' | 'delete' | 'error', handler: (arg: never) => void): void {
    (this.#handlers[event] as ((arg: never) => void)[]).push(handler);
  }

  list(): readonly T[] {
    return [...this.#objects.values()];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#objects.get(`${namespace ?? ''}/${name}`);
  }

  get size(): number {
    return this.#objects.size;
  }

  /** Takes an object this process wrote (the API server's answer) into the cache before its watch event. */
  put(object: unknown): void {
    const obj = this.#o.transform(object);
    if (obj !== undefined) this.#upsert(keyOf(obj), obj);
  }

  /** Drops an object this process deleted from the cache before its watch event. */
  forget(name: string, namespace?: string): void {
    const key = `${namespace ?? ''}/${name}`;
    const old = this.#objects.get(key);
    if (old === undefined) return;
    this.#objects.delete(key);
    this.#emit('delete', old);
  }

  /** Lists (when no resourceVersion is known), then watches in the background; errors go to 'error'. */
  async start(): Promise<void> {
    this.#abort?.abort();
    const abort = new AbortController();
    this.#abort = abort;
    try {
      if (this.#resourceVersion === '') await this.#list(abort.signal);
    } catch (err) {
      if (!abort.signal.aborted) this.#fail(err);
      return;
    }
    void this.#watchLoop(abort.signal);
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    this.#abort = undefined;
  }

  #fail(err: unknown): void {
    for (const h of this.#handlers.error) h(err);
  }

  #emit(event: 'add' | 'update' | 'delete', obj: T): void {
    for (const h of this.#handlers[event]) h(obj);
  }

  async #list(signal: AbortSignal): Promise<void> {
    const seen = new Set<string>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = (await this.#rest.request('GET', this.#o.path, {
        query: {
          limit: String(this.#o.pageSize ?? 500),
          continue: continueToken,
          fieldSelector: this.#o.fieldSelector,
          labelSelector: this.#o.labelSelector,
        },
        ...(this.#o.metadataOnly === true ? { accept: METADATA_LIST } : {}),
      })) as { metadata?: { continue?: string; resourceVersion?: string }; items?: unknown[] } | undefined;
      if (signal.aborted) return;
      for (const item of page?.items ?? []) {
        const obj = this.#o.transform(item);
        if (obj === undefined) continue;
        const key = keyOf(obj);
        seen.add(key);
        this.#upsert(key, obj);
      }
      continueToken = page?.metadata?.continue || undefined;
      resourceVersion = page?.metadata?.resourceVersion ?? '';
    } while (continueToken !== undefined);
    for (const [key, obj] of this.#objects) {
      if (seen.has(key)) continue;
      this.#objects.delete(key);
      this.#emit('delete', obj);
    }
    this.#resourceVersion = resourceVersion;
  }

  #upsert(key: string, obj: T): void {
    const old = this.#objects.get(key);
    if (old !== undefined) {
      if (old.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
      if (this.#o.same?.(old, obj) === true) return;
    }
    this.#objects.set(key, obj);
    this.#emit(old === undefined ? 'add' : 'update', obj);
  }

  async #watchLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const started = performance.now();
      try {
        await this.#rest.watch(
          this.#o.path,
          {
            resourceVersion: this.#resourceVersion,
            allowWatchBookmarks: 'true',
            timeoutSeconds: String(300 + Math.floor(Math.random() * 60)),
            fieldSelector: this.#o.fieldSelector,
            labelSelector: this.#o.labelSelector,
          },
          this.#o.metadataOnly === true ? METADATA : undefined,
          (type, object) => this.#event(type, object),
          signal,
        );
      } catch (err) {
        if (signal.aborted) return;
        // 410 Gone: the resourceVersion is too old to resume from; the next start lists again.
        if (err instanceof KubeError && err.code === 'GONE') this.#resourceVersion = '';
        this.#fail(err);
        return;
      }
      // A server that ends watches at once must not be asked again in a tight loop.
      if (performance.now() - started < 1000) await pause(1000, signal);
    }
  }

  #event(type: string, object: unknown): void {
    const version = (object as KubeObject | undefined)?.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (version !== undefined) this.#resourceVersion = version;
      return;
    }
    const obj = type === 'DELETED' ? undefined : this.#o.transform(object);
    const meta = (object as KubeObject | undefined)?.metadata;
    const key = `${meta?.namespace ?? ''}/${meta?.name ?? ''}`;
    if (version !== undefined) this.#resourceVersion = version;
    if (obj === undefined) {
      const old = this.#objects.get(key);
      if (old === undefined) return;
      this.#objects.delete(key);
      this.#emit('delete', old);
      return;
    }
    this.#upsert(key, obj);
  }
}
