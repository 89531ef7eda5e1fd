// Runs CLI commands in-process with captured output.
import { PassThrough } from 'node:stream';
import type { Io } from '../../src/cli/command.ts';
import { main } from '../../src/cli/main.ts';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** An Io whose output is collected; `result(code)` gives what was written. */
export function captureIo(env: Record<string, string | undefined> = {}): {
  readonly io: Io;
  result(code: number): CliResult;
} {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const io: Io = { stdout, stderr, stdin: new PassThrough(), env: { ...process.env, ...env } };
  return { io, result: (code) => ({ code, stdout: out, stderr: err }) };
}

export async function runCli(
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<CliResult> {
  const { io, result } = captureIo(env);
  return result(await main(argv, io));
}
