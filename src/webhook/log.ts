// Structured JSON logs. The only module importing pino.
import { type DestinationStream, type Logger, pino } from 'pino';
import { truncate } from '../image/index.ts';

export type { Logger };
/** Where log lines go: anything with write(string). */
export type LogDestination = DestinationStream;

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The longest string a log field keeps: fields often carry what a request or a registry sent. */
export const LOG_FIELD_MAX = 4096;
const STACK_MAX = 4 * LOG_FIELD_MAX;
// Deep enough for the admission line's `images[].reason`; deeper values are logged as they are.
const BOUNDED_DEPTH = 4;

function bounded(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return truncate(value, LOG_FIELD_MAX);
  if (depth === 0 || typeof value !== 'object' || value === null || value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((v) => bounded(v, depth - 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = bounded(v, depth - 1);
  return out;
}

/** An error as a log field: its message bounded, and its stack frames kept below the bounded message. */
function errorField(err: unknown): unknown {
  if (!(err instanceof Error)) return bounded(err, 1);
  const message = truncate(err.message, LOG_FIELD_MAX);
  const head = `${err.name}: ${err.message}`;
  const stack = err.stack?.startsWith(head)
    ? `${err.name}: ${message}${err.stack.slice(head.length)}`
    : err.stack;
  const code = (err as { code?: unknown }).code;
  return {
    type: err.name,
    message,
    ...(typeof code === 'string' ? { code: truncate(code, 64) } : {}),
    ...(stack === undefined ? {} : { stack: truncate(stack, STACK_MAX) }),
  };
}

/**
 * A pino logger writing JSON lines. Fields that could carry credentials are censored even if a
 * caller passes them by mistake, and every string field is bounded.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'portcullis' },
    serializers: { err: errorField },
    formatters: {
      log: (fields: Record<string, unknown>) => bounded(fields, BOUNDED_DEPTH) as Record<string, unknown>,
    },
    redact: {
      paths: [
        'password',
        'auth',
        'token',
        '*.password',
        '*.auth',
        '*.token',
        'req.headers.authorization',
        'req.headers.cookie',
        'dockerConfigJson',
        '*.dockerConfigJson',
      ],
      censor: '[redacted]',
    },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
