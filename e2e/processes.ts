// Processes of the e2e harness: commands run to completion, servers supervised so that they die
// with the harness however it ends, readiness polling, and the HarnessError every failure becomes.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';

export type HarnessErrorCode =
  | 'E2E_BUILD_FAILED'
  | 'E2E_TOOL_MISSING'
  | 'E2E_CERT_FAILED'
  | 'E2E_START_FAILED'
  | 'E2E_COMMAND_FAILED'
  | 'E2E_TIMEOUT';

export class HarnessError extends Error {
  readonly code: HarnessErrorCode;
  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HarnessError';
    this.code = code;
  }
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  /** Written to the command's stdin, which is closed afterwards. */
  input?: string;
  /** The command is killed after this long; default 60 s. */
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Polls `check` until it returns a value other than undefined, or fails with its last error. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new HarnessError('E2E_TIMEOUT', `${what}: not reached within ${timeoutMs} ms`, {
        cause: lastError,
      });
    }
    await sleep(intervalMs);
  }
}

export interface Supervised {
  readonly name: string;
  readonly logPath: string;
  /** Set once the process has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

function killAllNow(): void {
  for (const child of running) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  running.clear();
}

let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllNow();
      process.kill(process.pid, signal);
    });
  }
}

// Runs the server under a bash guard in its own process group. The guard forwards SIGTERM, reports
// the server's exit status, and kills the whole group when its stdin (a pipe from this process)
// closes: so the servers die with the harness even when Node itself is killed with SIGKILL.
const guardScript = [
  'exec 3<&0',
  '"$@" </dev/null 3<&- &',
  'server=$!',
  '{ while read -r _; do :; done; kill -KILL 0; } <&3 &',
  'guard=$!',
  'exec 3<&-',
  'trap \'kill -TERM "$server" 2>/dev/null\' TERM INT',
  // The first wait also collects the status of a server that exited before the loop could see it.
  'wait "$server"; status=$?',
  'while kill -0 "$server" 2>/dev/null; do wait "$server"; status=$?; done',
  'kill "$guard" 2>/dev/null',
  'exit "$status"',
].join('\n');

export function supervise(
  name: string,
  binary: string,
  logPath: string,
  args: string[],
  env: Record<string, string> = {},
): Supervised {
  installExitHooks();
  const log = openSync(logPath, 'a');
  const child = spawn('bash', ['-c', guardScript, name, binary, ...args], {
    detached: true,
    stdio: ['pipe', log, log],
    env: { ...childEnv(), ...env },
  });
  closeSync(log);
  running.add(child);
  const exited = new Promise<void>((settle) => {
    child.once('exit', (code, signal) => {
      supervised.exit = { code, signal };
      running.delete(child);
      settle();
    });
  });
  child.once('error', (error) => {
    writeFileSync(logPath, `e2e harness: spawning ${name}: ${error.message}\n`, { flag: 'a' });
  });
  child.unref();
  const supervised: Supervised = {
    name,
    logPath,
    exit: undefined,
    stop: async () => {
      if (supervised.exit !== undefined || child.pid === undefined) return;
      child.kill('SIGTERM');
      const graceful = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!graceful) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await exited;
      }
      running.delete(child);
    },
  };
  return supervised;
}

export async function waitReady(
  proc: Supervised,
  timeoutMs: number,
  ready: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exit !== undefined) {
      const how = proc.exit.signal ?? `code ${proc.exit.code}`;
      throw startFailure(proc, `exited (${how}) before it was ready`);
    }
    if (await ready().catch(() => false)) return;
    if (Date.now() >= deadline) throw startFailure(proc, `not ready within ${timeoutMs} ms`);
    await sleep(250);
  }
}

export function startFailure(proc: Supervised, detail: string): HarnessError {
  let tail = '';
  try {
    tail = lastLines(readFileSync(proc.logPath, 'utf8'), 30);
  } catch {
    tail = '(no log written)';
  }
  return new HarnessError(
    'E2E_START_FAILED',
    `starting ${proc.name}: ${detail}; log: ${proc.logPath}\n${tail.replace(/^/gm, '  | ')}`,
  );
}

export interface RunOptions extends CommandOptions {
  stderrTo?: NodeJS.WritableStream;
}

/** Runs a command to completion; a missing binary or a timeout is a HarnessError, an exit code is not. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((settle, fail) => {
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...childEnv(), ...options.env },
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      options.stderrTo?.write(chunk);
    });
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(
        new HarnessError(
          'E2E_TIMEOUT',
          `running ${command} ${args.join(' ')}: no exit within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      fail(new HarnessError('E2E_TOOL_MISSING', `running ${command}: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      settle({
        code: code ?? (signal === null ? 1 : 128),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

// The servers and webhooks all live on loopback: no proxy may stand between them.
export function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(https?|all|no)_proxy$/i.test(key)) env[key] = value;
  }
  env.NO_PROXY = '127.0.0.1,localhost';
  return env;
}

export interface TlsMaterial {
  ca: string;
  /** A client certificate and key, for servers that require one. */
  cert?: string;
  key?: string;
}

export function httpGet(url: string, tls?: TlsMaterial): Promise<{ status: number; body: string }> {
  return new Promise((settle, fail) => {
    const target = new URL(url);
    const req = (target.protocol === 'https:' ? request : httpRequest)(
      target,
      { method: 'GET', timeout: 5_000, ...(tls ?? {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          settle({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', fail);
    req.end();
  });
}

export function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((settle) => setTimeout(settle, ms));
}
