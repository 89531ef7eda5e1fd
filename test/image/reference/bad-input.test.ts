import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DockerReferenceError,
  parse,
  parseDockerRef,
  parseNormalizedNamed,
  REFERENCE_INPUT_MAX,
} from '../../../src/image/index.ts';

const hex64 = 'a'.repeat(64);

describe('hostile and malformed references give typed errors', () => {
  const table: [string, string, string][] = [
    ['empty string', '', 'NAME_EMPTY'],
    ['64-hex identifier', hex64, 'NAME_IS_IDENTIFIER'],
    ['uppercase repository', 'Example/App', 'NAME_CONTAINS_UPPERCASE'],
    ['uppercase after a domain', 'example.com/App:1', 'NAME_CONTAINS_UPPERCASE'],
    ['name over 255 characters', `example.com/${'a'.repeat(250)}`, 'NAME_TOO_LONG'],
    ['input over the hard cap', `a${':'.repeat(REFERENCE_INPUT_MAX)}`, 'REFERENCE_TOO_LONG'],
    ['unicode letters', 'exämple/app', 'REFERENCE_INVALID_FORMAT'],
    ['emoji', 'app:🙂', 'REFERENCE_INVALID_FORMAT'],
    ['whitespace', 'nginx latest', 'REFERENCE_INVALID_FORMAT'],
    ['tag too long', `nginx:${'t'.repeat(129)}`, 'REFERENCE_INVALID_FORMAT'],
    ['unsupported digest algorithm', `nginx@md5:${'0'.repeat(32)}`, 'DIGEST_UNSUPPORTED'],
    ['digest of wrong length', `nginx@sha256:${'0'.repeat(63)}`, 'DIGEST_INVALID_LENGTH'],
    ['uppercase digest hex', `nginx@sha256:${'A'.repeat(64)}`, 'DIGEST_INVALID_FORMAT'],
    ['trailing slash', 'library/nginx/', 'REFERENCE_INVALID_FORMAT'],
    ['double slash', 'library//nginx', 'REFERENCE_INVALID_FORMAT'],
    ['leading separator', '-nginx', 'REFERENCE_INVALID_FORMAT'],
  ];
  for (const [what, input, code] of table) {
    it(`${what} -> ${code}`, () => {
      assert.throws(
        () => parseNormalizedNamed(input),
        (err: unknown) => err instanceof DockerReferenceError && err.code === code,
      );
    });
  }

  it('names the input in the message', () => {
    assert.throws(() => parseNormalizedNamed('nginx latest'), /nginx latest/);
  });

  it('rejects pathological input in linear time (no catastrophic backtracking)', () => {
    const evil = [
      `${'a'.repeat(200)}!`,
      `${'a-'.repeat(100)}!`,
      `${'a.'.repeat(120)}:${'b'.repeat(100)}!`,
      `${'a'.repeat(40)}/${'b_'.repeat(100)}@`,
      `example.com/${'a__'.repeat(80)}-`,
    ];
    for (const input of evil) {
      const start = performance.now();
      assert.throws(() => parse(input), DockerReferenceError);
      // Backtracking would take ages on these; a loaded CI machine can still pause a parse for tens of ms.
      assert.ok(performance.now() - start < 1000, `parse(${input.slice(0, 20)}…) took too long`);
    }
  });

  it('keeps tag and digest together when both are given', () => {
    const ref = parseNormalizedNamed(`nginx:1.25@sha256:${hex64}`);
    assert.equal(ref.tag, '1.25');
    assert.equal(ref.digest, `sha256:${hex64}`);
    assert.equal(parseDockerRef(ref.toString()).toString(), `docker.io/library/nginx@sha256:${hex64}`);
  });
});
