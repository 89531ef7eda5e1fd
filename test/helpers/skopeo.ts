// skopeo 1.9.3 (Debian) as the reference implementation in tests.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs `skopeo --insecure-policy ARGS`; rejects on a non-zero exit. */
export async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', ['--insecure-policy', ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
