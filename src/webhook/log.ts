// Structured JSON logs. The only module importing pino.
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };
/** Where log lines go: anything with write(string). */
export type LogDestination = DestinationStream;

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * A pino logger writing JSON lines. Fields that could carry credentials are censored even if a
 * caller passes them by mistake.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'portcullis' },
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
