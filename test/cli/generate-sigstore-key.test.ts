import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decryptPrivateKey } from '../../src/image/signature/sigstore/index.ts';
import { runCli } from '../helpers/cli.ts';

describe('generate-sigstore-key', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-genkey-'));
    await writeFile(join(dir, 'pass'), 'first line only\nsecond line\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const generate = (prefix: string) =>
    runCli(['generate-sigstore-key', '--output-prefix', prefix, '--passphrase-file', join(dir, 'pass')]);

  test('writes PREFIX.private (0600, opens with the first line of the passphrase file) and PREFIX.pub', async () => {
    const prefix = join(dir, 'k1');
    const r = await generate(prefix);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Key written to ".*k1\.private" and ".*k1\.pub"\n$/);
    assert.equal((await stat(`${prefix}.private`)).mode & 0o777, 0o600);
    const key = await decryptPrivateKey(
      await readFile(`${prefix}.private`, 'utf8'),
      Buffer.from('first line only'),
    );
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(await readFile(`${prefix}.pub`, 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
  });

  test('never overwrites an existing key file', async () => {
    const prefix = join(dir, 'k2');
    await writeFile(`${prefix}.private`, 'keep me');
    const r = await generate(prefix);
    assert.equal(r.code, 1);
    assert.equal(await readFile(`${prefix}.private`, 'utf8'), 'keep me');
  });

  const usageCases: [string, string[]][] = [
    ['without --output-prefix', ['--passphrase-file', 'x']],
    ['without --passphrase-file', ['--output-prefix', 'x']],
    ['with a positional argument', ['--output-prefix', 'x', '--passphrase-file', 'y', 'extra']],
  ];
  for (const [name, args] of usageCases) {
    test(`exits 2 ${name}`, async () => {
      assert.equal((await runCli(['generate-sigstore-key', ...args])).code, 2);
    });
  }
});
