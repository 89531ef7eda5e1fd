import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNormalizedNamed } from '../../src/image/index.ts';
import { exceptionCovers, exceptionState, type TrustException } from '../../src/policy/index.ts';

const created = '2026-03-01T10:00:00Z';
const at = (iso: string) => Date.parse(iso);
const object = (spec: Record<string, unknown>) => ({
  metadata: { name: 'hotfix', namespace: 'team-a', uid: 'u1', creationTimestamp: created },
  spec: {
    images: [{ scope: 'registry.example/team/app' }],
    reason: 'CVE fix',
    owner: 'alice',
    expiresAfter: '72h',
    ...spec,
  },
});

describe('exceptionState', () => {
  it('is active from creation until creation + expiresAfter, then expired', () => {
    const s = exceptionState(object({}), at('2026-03-02T10:00:00Z'));
    assert.equal(s.kind, 'active');
    assert.equal(s.kind === 'active' && s.exception.expiresAt, at('2026-03-04T10:00:00Z'));
    assert.equal(exceptionState(object({}), at('2026-03-04T10:00:00Z')).kind, 'expired');
  });
  const invalid: Array<[string, Record<string, unknown>]> = [
    ['no reason', { reason: '' }],
    ['no owner', { owner: undefined }],
    ['no expiry', { expiresAfter: undefined }],
    ['an expiry beyond 7 days', { expiresAfter: '169h' }],
    ['an expiry in days (not a Go duration)', { expiresAfter: '3d' }],
    ['a zero expiry', { expiresAfter: '0s' }],
    ['no images', { images: [] }],
    ['a bad digest', { images: [{ scope: 'registry.example/app', digest: 'sha256:xyz' }] }],
  ];
  for (const [what, spec] of invalid) {
    it(`is invalid with ${what}`, () => {
      assert.equal(exceptionState(object(spec), at('2026-03-01T11:00:00Z')).kind, 'invalid');
    });
  }
});

describe('exceptionCovers', () => {
  const exception = (images: TrustException['images']): TrustException => ({
    namespace: 'team-a',
    name: 'x',
    uid: 'u',
    images,
    reason: 'r',
    owner: 'o',
    expiresAt: Date.now() + 60_000,
  });
  const digest = `sha256:${'a'.repeat(64)}`;
  const cases: Array<[string, TrustException['images'], string, boolean]> = [
    [
      'a repository covers its tags',
      [{ scope: 'registry.example/team/app' }],
      'registry.example/team/app:1',
      true,
    ],
    [
      'a namespace covers its repositories',
      [{ scope: 'registry.example/team' }],
      'registry.example/team/app:1',
      true,
    ],
    ['a host covers everything on it', [{ scope: 'registry.example' }], 'registry.example/team/app:1', true],
    ['a wildcard covers subdomains', [{ scope: '*.example' }], 'registry.example/team/app:1', true],
    [
      'a tag covers only that tag',
      [{ scope: 'registry.example/team/app:1' }],
      'registry.example/team/app:2',
      false,
    ],
    [
      'a repository does not cover a sibling with its prefix',
      [{ scope: 'registry.example/team/app' }],
      'registry.example/team/application:1',
      false,
    ],
    [
      'docker.io short names normalize',
      [{ scope: 'docker.io/library/nginx' }],
      'docker.io/library/nginx:1.27',
      true,
    ],
    [
      'a digest needs the pod to name it',
      [{ scope: 'registry.example/team/app', digest }],
      'registry.example/team/app:1',
      false,
    ],
    [
      'a digest covers the pod that names it',
      [{ scope: 'registry.example/team/app', digest }],
      `registry.example/team/app@${digest}`,
      true,
    ],
  ];
  for (const [what, images, image, covered] of cases) {
    it(what, () => assert.equal(exceptionCovers(exception(images), parseNormalizedNamed(image)), covered));
  }
});
