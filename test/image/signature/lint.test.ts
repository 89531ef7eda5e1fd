import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enclosingScopes, lintPolicy, parsePolicy } from '../../../src/image/signature/index.ts';

describe('enclosingScopes', () => {
  const table: ReadonlyArray<[string, string, string[]]> = [
    [
      'docker',
      'example.com:5000/ns/repo:tag',
      ['example.com:5000/ns/repo', 'example.com:5000/ns', 'example.com:5000', '*.com'],
    ],
    [
      'docker',
      'a.b.example.com/repo@sha256:0123',
      ['a.b.example.com', '*.b.example.com', '*.example.com', '*.com'],
    ],
    ['docker', 'localhost/ns', ['localhost']],
    ['docker', '*.b.example.com', ['*.example.com', '*.com']],
    ['dir', '/a/b/c', ['/a/b', '/a']],
  ];
  for (const [transport, scope, expected] of table) {
    it(`${transport} ${scope} -> ${expected.join(', ')}`, () => {
      assert.deepEqual(enclosingScopes(transport, scope), expected);
    });
  }
});

describe('lintPolicy', () => {
  it('finds nothing in a strict policy', () => {
    const p = parsePolicy(
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: { docker: { 'example.com': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k' }] } },
      }),
    );
    assert.deepEqual(lintPolicy(p), []);
  });

  it('a wildcard scope weaker than a broader wildcard is reported', () => {
    const p = parsePolicy(
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            '*.example.com': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k' }],
            '*.dev.example.com': [{ type: 'insecureAcceptAnything' }],
          },
        },
      }),
    );
    assert.deepEqual(
      lintPolicy(p).map((w) => [w.code, w.pointer]),
      [['SCOPE_WEAKENS_ENCLOSING', '/transports/docker/*.dev.example.com']],
    );
  });
});
