// The parser against skopeo's (containers/image, Go) on the classes where a differential run over
// mutated policies found the two apart: line-wrapped base64 and lone surrogate escapes must now
// agree; the deliberate divergences (docs/policy-json.md) must still be what the docs say.
// skopeo loads the policy before it opens the (missing) source image, so "invalid policy" in its
// error is its parser refusing the file, anything else is its parser accepting it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { JsonError, parsePolicy } from '../../../src/image/signature/index.ts';

const run = promisify(execFile);
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-parse-skopeo-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function skopeoAccepts(name: string, policy: string | Uint8Array): Promise<boolean> {
  const path = join(dir, `${name.replace(/\W+/g, '-')}.json`);
  await writeFile(path, policy);
  const result = await run('skopeo', ['copy', '--policy', path, 'dir:/nonexistent', `dir:${dir}/out`]).then(
    () => ({ stderr: '' }),
    (err: { stderr: string }) => err,
  );
  return !result.stderr.includes('invalid policy');
}

function portcullisAccepts(policy: string | Uint8Array): boolean {
  try {
    parsePolicy(policy);
    return true;
  } catch (err) {
    assert.ok(err instanceof JsonError, String(err));
    return false;
  }
}

const gpgKeyData = (keyData: unknown) =>
  JSON.stringify({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyData }] });
// `base64` wraps at 76 columns, with LF (and CRLF when it went through Windows).
const wrapped = Buffer.from('a key long enough that base64 wraps it over more than one line, '.repeat(2))
  .toString('base64')
  .replace(/.{76}/g, '$&\n');
const transports = (a: string, b: string) =>
  `{"default":[{"type":"reject"}],"transports":{"${a}":{"":[{"type":"reject"}]},"${b}":{"":[{"type":"reject"}]}}}`;

describe('policy.json parsing vs skopeo', () => {
  const agree: ReadonlyArray<[string, string | Uint8Array, boolean]> = [
    ['keyData base64 wrapped with LF', gpgKeyData(wrapped), true],
    ['keyData base64 wrapped with CRLF', gpgKeyData(wrapped.replaceAll('\n', '\r\n')), true],
    ['keyData with a space', gpgKeyData('YWJj ZGVm'), false],
    [
      'keys differing only in lone surrogates (both U+FFFD: duplicates)',
      transports('\\ud800', '\\udc00'),
      false,
    ],
    ['a lone high surrogate before another escape', transports('\\ud800\\u0041', '\\ufffdA'), false],
    [
      'a surrogate pair is one character, not U+FFFD twice',
      transports('\\ud83d\\ude00', '\\ufffd\\ufffd'),
      true,
    ],
  ];
  for (const [name, policy, accepted] of agree) {
    it(`${name}: both ${accepted ? 'accept' : 'refuse'}`, async () => {
      assert.equal(await skopeoAccepts(name, policy), accepted, 'skopeo');
      assert.equal(portcullisAccepts(policy), accepted, 'portcullis');
    });
  }

  const stricter: ReadonlyArray<[string, string | Uint8Array]> = [
    ['keyData as a JSON array of byte values', gpgKeyData([65, 66, 67])],
    [
      'invalid UTF-8 inside a string',
      Buffer.concat([
        Buffer.from('{"default":[{"type":"reject"}],"transports":{"x'),
        Buffer.from([0xff]),
        Buffer.from('":{}}}'),
      ]),
    ],
    ['a policy file over 4 MiB', `${' '.repeat(4 << 20)}{"default":[{"type":"reject"}]}`],
  ];
  for (const [name, policy] of stricter) {
    it(`${name}: skopeo accepts, Portcullis refuses (a documented divergence)`, async () => {
      assert.equal(await skopeoAccepts(name, policy), true, 'skopeo');
      assert.equal(portcullisAccepts(policy), false, 'portcullis');
    });
  }
});
