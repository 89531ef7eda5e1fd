import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.ts';

const bin = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

describe('portcullis CLI entry', () => {
  it('prints usage for --help and exits 0', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage:\n {2}portcullis COMMAND/);
  });

  it('exits 2 with usage when no command is given', async () => {
    const r = await runCli([]);
    assert.equal(r.code, 2);
  });

  it('names an unknown command and exits 2', async () => {
    const r = await runCli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "frobnicate"/);
  });

  it('runs through bin/portcullis.js on Node 24', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [bin, '--help']);
    assert.match(stdout, /portcullis COMMAND/);
  });

  it('refuses to run on an older Node with an actionable message', async (t) => {
    const old = '/usr/bin/node';
    const { stdout: version } = await promisify(execFile)(old, ['--version']).catch(() => ({ stdout: '' }));
    if (!/^v(1\d|2[0-3])\./.test(version)) {
      // Only a machine whose system Node is older than 24 can show the guard (these have Node 20).
      t.skip(`no Node older than 24 at ${old} (found ${version.trim() || 'none'})`);
      return;
    }
    const err = await promisify(execFile)(old, [bin, '--help']).then(
      () => assert.fail('expected a failure'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(err.code, 2);
    assert.match(err.stderr, /Node 24 or newer is required/);
  });
});
