// --debug: every request the command makes to a registry, on stderr in the format skopeo's
// --debug uses (logrus: `time="..." level=debug msg="..."`, or `DEBU[0001] ...` on a terminal).
// Lines come from the docker transport's request events, which never hold credentials or query
// strings.
import { describeRequest, onRequest, type RequestEvent } from '../image/transports/docker/trace.ts';
import type { Io } from './command.ts';

/** Whether `--debug` is on: before the command name or among its arguments (before `--`). */
export function debugRequested(argv: readonly string[]): boolean {
  let on = false;
  for (const arg of argv) {
    if (arg === '--') break;
    if (arg === '--debug' || arg === '--debug=true' || arg === '--debug=1') on = true;
    else if (arg === '--debug=false' || arg === '--debug=0') on = false;
  }
  return on;
}

function logLine(message: string, tty: boolean): string {
  if (tty) return `DEBU[${String(Math.floor(process.uptime())).padStart(4, '0')}] ${message}\n`;
  const time = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `time="${time}" level=debug msg=${JSON.stringify(message)}\n`;
}

/** Writes a debug line per registry request to `io.stderr` until the returned function is called. */
export function traceRequestsTo(io: Io): () => void {
  const tty = io.stderr.isTTY === true;
  return onRequest((e: RequestEvent) => io.stderr.write(logLine(describeRequest(e), tty)));
}
