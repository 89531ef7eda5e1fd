// What the docker transport asks registries, published on node:diagnostics_channel as undici
// publishes its own requests: one event per HTTP exchange (each redirect hop, retry, ping and token
// request is its own), when the answer's headers arrive or the exchange fails. An event holds no
// header, no query string (upload states, signed blob URLs and token scopes live there) and no
// credential, so any subscriber may print it. http.ts publishes (its send() is the one request
// path); this module is the listening side.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { REQUEST_CHANNEL } from './http.ts';

export { REQUEST_CHANNEL };

export interface RequestEvent {
  readonly method: string;
  /** `http` or `https`. */
  readonly scheme: string;
  /** host[:port] */
  readonly host: string;
  /** The URL path, without its query string. */
  readonly path: string;
  /** The answer's status; absent when the exchange failed. */
  readonly status?: number;
  /** The error code of a failed exchange (NETWORK, TIMEOUT, TLS_ERROR, ...). */
  readonly error?: string;
  /** From sending to the answer's headers (or the failure), in milliseconds. */
  readonly durationMs: number;
}

/** Calls `listener` with every request event until the returned function is called. */
export function onRequest(listener: (event: RequestEvent) => void): () => void {
  const handler = (message: unknown) => listener(message as RequestEvent);
  subscribe(REQUEST_CHANNEL, handler);
  return () => {
    unsubscribe(REQUEST_CHANNEL, handler);
  };
}

/** One line for people: `GET https://host/v2/ns/app/manifests/v1 status 200 (3 ms)`. */
export function describeRequest(e: RequestEvent): string {
  const outcome = e.status !== undefined ? `status ${e.status}` : `failed: ${e.error}`;
  return `${e.method} ${e.scheme}://${e.host}${e.path} ${outcome} (${Math.round(e.durationMs)} ms)`;
}
