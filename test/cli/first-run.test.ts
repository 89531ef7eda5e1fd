// What a new user sees first: `npx portcullis` in a checkout, with npm run by the system Node
// (often older than the Node 24 that `npm ci` installs into node_modules/.bin and that runs
// Portcullis). npm must print nothing of its own before the command's output.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The PATH of a shell outside npm scripts (no node_modules/.bin), and `name` found on it. */
function systemTool(name: string): { readonly path: string; readonly PATH: string } | undefined {
  const dirs = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((d) => d !== '' && !d.includes('node_modules'));
  const dir = dirs.find((d) => existsSync(join(d, name)));
  return dir === undefined ? undefined : { path: join(dir, name), PATH: dirs.join(delimiter) };
}

/** The environment of a user's shell: none of the npm_* variables an npm script runs with. */
function userEnv(PATH: string, cache: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return {
    ...env,
    PATH,
    npm_config_cache: cache,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
  };
}

describe('first run', () => {
  const npx = systemTool('npx');
  // A machine without a system npm has no `npx` for a user to type: nothing to check there.
  test('a first `npx portcullis` shows the command output and nothing from npm', {
    skip: npx === undefined && 'no npx outside node_modules on PATH',
  }, async () => {
    const cache = await mkdtemp(join(tmpdir(), 'first-run-npm-cache-'));
    try {
      const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
        (resolve) => {
          execFile(
            npx!.path,
            ['portcullis', '--version'],
            { cwd: root, env: userEnv(npx!.PATH, cache), timeout: 120_000 },
            (err, stdout, stderr) =>
              resolve({
                code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1,
                stdout,
                stderr,
              }),
          );
        },
      );
      assert.equal(stderr, '');
      assert.equal(code, 0);
      assert.match(stdout, /^portcullis version \d+\.\d+\.\d+\n$/);
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });
});
