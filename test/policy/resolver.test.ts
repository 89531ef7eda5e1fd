import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DockerError } from '../../src/image/index.ts';
import { isTransient } from '../../src/policy/index.ts';

describe('isTransient', () => {
  const cases: Array<[string, unknown, boolean]> = [
    ['503', new DockerError('SERVER_ERROR', 'x', { status: 503, temporary: true }), true],
    ['429', new DockerError('TOOMANYREQUESTS', 'x', { status: 429, temporary: true, retryAfter: 30 }), true],
    ['connection refused', new DockerError('NETWORK', 'connect ECONNREFUSED', { temporary: true }), true],
    ['our own deadline', new DockerError('TIMEOUT', 'aborted'), true],
    ['a body cut short', new DockerError('SHORT_BODY', 'x', { temporary: true }), true],
    ['a ping answered 502', new DockerError('BAD_RESPONSE', 'pinging: status 502', { status: 502 }), true],
    [
      'a wrapped 503',
      new DockerError('HTTP_ERROR', 'initializing source', {
        cause: new DockerError('SERVER_ERROR', 'x', { status: 503 }),
      }),
      true,
    ],
    ['404', new DockerError('MANIFEST_UNKNOWN', 'x', { status: 404 }), false],
    ['a wrapped 404', new DockerError('NAME_UNKNOWN', 'initializing source'), false],
    ['401', new DockerError('UNAUTHORIZED', 'x', { status: 401 }), false],
    ['403', new DockerError('DENIED', 'x', { status: 403 }), false],
    ['a certificate problem', new DockerError('TLS_ERROR', 'x'), false],
    ['a digest that does not match', new DockerError('DIGEST_MISMATCH', 'x'), false],
    ['anything else', new Error('boom'), false],
    ['not an error', undefined, false],
  ];
  for (const [what, err, transient] of cases) {
    it(`${what}: ${transient ? 'transient' : 'definite'}`, () => assert.equal(isTransient(err), transient));
  }
});
