import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { asBackgroundWork, parseNormalizedNamed } from '../../src/image/index.ts';
import {
  ANONYMOUS_SCOPE,
  type CheckProgress,
  credentialScope,
  normalizeAuthKey,
} from '../../src/policy/index.ts';
import { checkerRig, digestFor, FakeEvaluator } from './fakes.ts';

const none = { dockerConfigJson: [] };
const progress = (): CheckProgress => ({ stage: 'parsing' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const authFor = (host: string, user: string) =>
  JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:pw`).toString('base64') } } });

describe('ImageChecker', () => {
  it('resolves tags, verifies the digest and reports it', async () => {
    const rig = checkerRig();
    const verdict = await rig.checker.check('registry.example/team/app:1', none, progress());
    assert.deepEqual(verdict, {
      kind: 'allowed',
      reason: 'signed by a trusted key',
      verified: true,
      digest: digestFor('registry.example/team/app:1'),
    });
  });
  it('normalizes short names and adds :latest as the kubelet does', async () => {
    const rig = checkerRig();
    await rig.checker.check('nginx', none, progress());
    assert.deepEqual(rig.resolver.calls, ['docker.io/library/nginx:latest']);
  });
  it('does not resolve references that carry a digest, and keeps the tag for identity checks', async () => {
    const rig = checkerRig();
    const digest = digestFor('x');
    await rig.checker.check(`registry.example/team/app:1@${digest}`, none, progress());
    assert.deepEqual(rig.resolver.calls, []);
    assert.deepEqual(rig.evaluator!.evaluations, [`registry.example/team/app:1@${digest}@${digest}`]);
  });
  it('marks the progress done whatever happened', async () => {
    const rig = checkerRig();
    const p = progress();
    await rig.checker.check('registry.example/team/app:1', none, p);
    assert.equal(p.stage, 'done');
  });

  describe('verdict cache key', () => {
    const image = 'registry.example/team/app:1';
    const changes: Array<[string, (rig: ReturnType<typeof checkerRig>) => void]> = [
      ['the policy changes', (rig) => (rig.evaluator!.policyHash = 'policy-2')],
      ['the trust material changes', (rig) => (rig.evaluator!.trustHash = 'trust-2')],
      ['the tag moves to another digest', (rig) => rig.resolver.tags.set(image, digestFor('moved'))],
    ];
    for (const [what, change] of changes) {
      it(`re-evaluates when ${what}`, async () => {
        const rig = checkerRig({ digestTtlMs: 0 });
        await rig.checker.check(image, none, progress());
        await rig.checker.check(image, none, progress());
        assert.equal(rig.evaluator!.evaluations.length, 1);
        change(rig);
        await rig.checker.check(image, none, progress());
        assert.equal(rig.evaluator!.evaluations.length, 2);
      });
    }
    it('re-evaluates when the credentials for the registry differ, not for other registries', async () => {
      const rig = checkerRig();
      await rig.checker.check(image, none, progress());
      await rig.checker.check(image, { dockerConfigJson: [authFor('other.example', 'x')] }, progress());
      assert.equal(rig.evaluator!.evaluations.length, 1);
      await rig.checker.check(image, { dockerConfigJson: [authFor('registry.example', 'x')] }, progress());
      assert.equal(rig.evaluator!.evaluations.length, 2);
    });
    it('keeps two names of one digest apart (scopes and identities depend on the name)', async () => {
      const rig = checkerRig();
      const digest = digestFor('same');
      rig.resolver.tags.set('registry.example/team/app:1', digest);
      rig.resolver.tags.set('registry.example/team/app:2', digest);
      await rig.checker.check('registry.example/team/app:1', none, progress());
      await rig.checker.check('registry.example/team/app:2', none, progress());
      assert.equal(rig.evaluator!.evaluations.length, 2);
    });
  });

  it('keeps definite denials only for the denial ttl', async () => {
    const rig = checkerRig({ deniedTtlMs: 400 });
    const image = 'registry.example/unsigned/app:1';
    assert.equal((await rig.checker.check(image, none, progress())).kind, 'denied');
    await rig.checker.check(image, none, progress());
    assert.equal(rig.evaluator!.evaluations.length, 1);
    await sleep(500);
    await rig.checker.check(image, none, progress());
    assert.equal(rig.evaluator!.evaluations.length, 2);
  });
  it('never caches failures to decide', async () => {
    const rig = checkerRig();
    rig.evaluator!.behaviour = 'throw';
    const failed = await rig.checker.check('registry.example/team/app:1', none, progress());
    assert.equal(failed.kind, 'error');
    rig.evaluator!.behaviour = 'ok';
    assert.equal((await rig.checker.check('registry.example/team/app:1', none, progress())).kind, 'allowed');
    assert.equal(rig.evaluator!.evaluations.length, 2);
  });
  it('never caches failed resolutions', async () => {
    const rig = checkerRig();
    rig.resolver.behaviour = 'throw';
    assert.equal((await rig.checker.check('registry.example/team/app:1', none, progress())).kind, 'error');
    rig.resolver.behaviour = 'ok';
    assert.equal((await rig.checker.check('registry.example/team/app:1', none, progress())).kind, 'allowed');
    assert.equal(rig.resolver.calls.length, 2);
  });
  it('caches tag resolutions for their ttl', async () => {
    const rig = checkerRig({ digestTtlMs: 400 });
    await rig.checker.check('registry.example/team/app:1', none, progress());
    await rig.checker.check('registry.example/team/app:1', none, progress());
    assert.equal(rig.resolver.calls.length, 1);
    await sleep(500);
    await rig.checker.check('registry.example/team/app:1', none, progress());
    assert.equal(rig.resolver.calls.length, 2);
  });
  it('coalesces concurrent resolutions and verifications of one image', async () => {
    const rig = checkerRig();
    rig.evaluator!.delayMs = 30;
    const verdicts = await Promise.all(
      Array.from({ length: 5 }, () => rig.checker.check('registry.example/team/app:1', none, progress())),
    );
    assert.ok(verdicts.every((v) => v.kind === 'allowed'));
    assert.equal(rig.resolver.calls.length, 1);
    assert.equal(rig.evaluator!.evaluations.length, 1);
  });
  it('answers an error, not a denial, while no policy is loaded', async () => {
    const rig = checkerRig();
    rig.evaluator = undefined;
    const verdict = await rig.checker.check('registry.example/team/app:1', none, progress());
    assert.deepEqual(verdict, {
      kind: 'error',
      code: 'POLICY_NOT_LOADED',
      reason: 'no trust policy is loaded',
    });
  });
});

describe('ImageChecker stale-if-error', () => {
  const image = 'registry.example/team/app:1';
  const deadline = () => performance.now() + 2000;
  const check = (rig: ReturnType<typeof checkerRig>, name = image) =>
    rig.checker.check(name, none, progress(), deadline());
  /** A rig that verified `name` once, then sees its registry fail transiently. */
  async function afterOutage(name = image, windowMs = 60_000) {
    const rig = checkerRig({ staleIfErrorMs: windowMs, allowedTtlMs: 0, deniedTtlMs: 0, digestTtlMs: 0 });
    await check(rig, name);
    rig.resolver.behaviour = 'unavailable';
    rig.evaluator!.behaviour = 'unavailable';
    return rig;
  }

  it('admits a verified digest, saying when it was verified and why the registry failed', async () => {
    const before = Date.now();
    const rig = await afterOutage();
    const verdict = await check(rig);
    assert.equal(verdict.kind, 'allowed');
    assert.ok(verdict.kind === 'allowed' && verdict.stale !== undefined);
    assert.equal(verdict.digest, digestFor(image));
    assert.ok(verdict.stale.verifiedAt >= before && verdict.stale.verifiedAt <= Date.now());
    assert.ok(verdict.stale.resolvedAt !== undefined && verdict.stale.resolvedAt >= before);
    assert.equal(verdict.stale.code, 'SERVER_ERROR');
  });
  it('admits a digest-pinned image on its verification alone', async () => {
    const pinned = `registry.example/team/app@${digestFor('x')}`;
    const rig = await afterOutage(pinned);
    const verdict = await check(rig, pinned);
    assert.ok(verdict.kind === 'allowed' && verdict.stale !== undefined);
    assert.equal(verdict.stale.resolvedAt, undefined);
    assert.equal(verdict.stale.code, 'EVALUATION_FAILED');
  });
  it('is off with a window of 0', async () => {
    const rig = await afterOutage(image, 0);
    assert.equal((await check(rig)).kind, 'error');
  });
  it('covers a tag only while its last resolution is within the window', async () => {
    const rig = await afterOutage(image, 300);
    await sleep(400);
    const verdict = await check(rig);
    assert.equal(verdict.kind, 'error');
  });
  it('refreshes the window with every fresh verification', async () => {
    const rig = checkerRig({ staleIfErrorMs: 600, allowedTtlMs: 0, digestTtlMs: 0 });
    await check(rig);
    await sleep(400);
    await check(rig);
    await sleep(400);
    rig.resolver.behaviour = 'unavailable';
    rig.evaluator!.behaviour = 'unavailable';
    assert.equal((await check(rig)).kind, 'allowed');
  });
  it('does not stand in for failures that are not transient', async () => {
    const rig = await afterOutage();
    rig.resolver.behaviour = 'throw';
    assert.equal((await check(rig)).kind, 'error');
  });
  it('never admits a digest never verified under this policy, trust and credentials', async () => {
    const changes: Array<(rig: ReturnType<typeof checkerRig>) => void> = [
      (rig) => (rig.evaluator!.policyHash = 'policy-2'),
      (rig) => (rig.evaluator!.trustHash = 'trust-2'),
    ];
    for (const change of changes) {
      const rig = await afterOutage();
      change(rig);
      assert.equal((await check(rig)).kind, 'error');
    }
    const rig = await afterOutage();
    const other = { dockerConfigJson: [authFor('registry.example', 'x')] };
    assert.equal((await rig.checker.check(image, other, progress(), deadline())).kind, 'error');
    assert.equal((await check(rig, 'registry.example/team/other:1')).kind, 'error');
  });
  it('never admits from a stale tag what was admitted without verification', async () => {
    const name = 'registry.example/unverified/app:1';
    const rig = checkerRig({ staleIfErrorMs: 60_000, allowedTtlMs: 60_000, digestTtlMs: 0 });
    assert.equal((await check(rig, name)).kind, 'allowed');
    rig.resolver.behaviour = 'unavailable';
    const verdict = await check(rig, name);
    assert.equal(verdict.kind, 'error');
  });
  it('keeps a definite denial, whatever the registry does next', async () => {
    const name = 'registry.example/unsigned/app:1';
    const rig = await afterOutage(name);
    rig.resolver.behaviour = 'ok';
    rig.evaluator!.behaviour = 'ok';
    assert.equal((await check(rig, name)).kind, 'denied');
    rig.evaluator!.behaviour = 'unavailable';
    assert.equal((await check(rig, name)).kind, 'error');
  });
  it('answers from the record before the deadline when the registry hangs', async () => {
    const rig = await afterOutage();
    rig.resolver.behaviour = 'hang';
    const deadlineAt = performance.now() + 400;
    const verdict = await rig.checker.check(image, none, progress(), deadlineAt);
    assert.ok(performance.now() < deadlineAt, 'answered after the deadline');
    assert.ok(verdict.kind === 'allowed' && verdict.stale?.code === 'TIMEOUT');
  });
});

describe('ImageChecker.cached', () => {
  const image = 'registry.example/team/app:1';
  /** The cache observations and stages a checker reports, in order. */
  const recording = () => {
    const seen: string[] = [];
    const observer = {
      stage: (stage: string) => seen.push(`stage ${stage}`),
      cache: (name: string, hit: boolean) => seen.push(`${name} ${hit ? 'hit' : 'miss'}`),
      registryRequest: () => {},
    };
    return { seen, observer };
  };

  it('knows nothing before a check, then the verdict check() gives, observed as check() would', async () => {
    const { seen, observer } = recording();
    const rig = checkerRig({ observer });
    assert.equal(rig.checker.cached(image, none), undefined);
    await rig.checker.check(image, none, progress());
    seen.length = 0;
    const slow = await rig.checker.check(image, none, progress());
    const slowSeen = seen.splice(0);
    assert.deepEqual(rig.checker.cached(image, none), slow);
    assert.deepEqual(seen, slowSeen);
    assert.deepEqual(slowSeen, ['digest hit', 'verdict hit', 'stage cache']);
  });
  it('with short names resolved by registries.conf, still answers names that carry a registry', async () => {
    const rig = checkerRig();
    const qualified: string[] = [];
    rig.resolver.qualify = async (name) => {
      qualified.push(name);
      return [parseNormalizedNamed(name.includes('/') ? name : `mirror.example/${name}`).tagNameOnly()];
    };
    await rig.checker.check(image, none, progress());
    await rig.checker.check(image, none, progress());
    assert.notEqual(rig.checker.cached(image, none), undefined);
    // A short name is qualified again at every check: registries.conf may have changed.
    await rig.checker.check('app:1', none, progress());
    await rig.checker.check('app:1', none, progress());
    assert.equal(rig.checker.cached('app:1', none), undefined);
    assert.deepEqual(qualified, [image, 'app:1', 'app:1']);
  });
  const forgets: Array<[string, (rig: ReturnType<typeof checkerRig>) => unknown]> = [
    [
      'the policy changes',
      (rig) => {
        rig.evaluator!.policyHash = 'policy-2';
      },
    ],
    [
      'the trust material changes',
      (rig) => {
        rig.evaluator!.trustHash = 'trust-2';
      },
    ],
    [
      'another policy is loaded',
      (rig) => {
        rig.evaluator = new FakeEvaluator();
      },
    ],
    [
      'no policy is loaded',
      (rig) => {
        rig.evaluator = undefined;
      },
    ],
    ['the tag resolution expires', () => sleep(150)],
  ];
  for (const [what, change] of forgets) {
    it(`knows nothing once ${what}`, async () => {
      const rig = checkerRig({ digestTtlMs: 100 });
      await rig.checker.check(image, none, progress());
      assert.notEqual(rig.checker.cached(image, none), undefined);
      await change(rig);
      assert.equal(rig.checker.cached(image, none), undefined);
    });
  }
  it('knows nothing for other credentials of the registry, whatever other registries get', async () => {
    const rig = checkerRig();
    await rig.checker.check(image, none, progress());
    assert.notEqual(
      rig.checker.cached(image, { dockerConfigJson: [authFor('other.example', 'x')] }),
      undefined,
    );
    assert.equal(
      rig.checker.cached(image, { dockerConfigJson: [authFor('registry.example', 'x')] }),
      undefined,
    );
  });
  it('knows nothing once a denial expires', async () => {
    const rig = checkerRig({ deniedTtlMs: 100 });
    const denied = 'registry.example/unsigned/app:1';
    await rig.checker.check(denied, none, progress());
    assert.equal(rig.checker.cached(denied, none)?.kind, 'denied');
    await sleep(150);
    assert.equal(rig.checker.cached(denied, none), undefined);
  });
  const never: Array<[string, string, (rig: ReturnType<typeof checkerRig>) => void]> = [
    ['the policy decides alone', 'registry.example/open/app:1', () => {}],
    ['the reference is invalid', 'Registry.example/App:1', () => {}],
    [
      'the verification failed',
      image,
      (rig) => {
        rig.evaluator!.behaviour = 'throw';
      },
    ],
    [
      'the resolution failed',
      image,
      (rig) => {
        rig.resolver.behaviour = 'throw';
      },
    ],
  ];
  for (const [what, subject, set] of never) {
    it(`knows nothing when ${what} (check() answers those)`, async () => {
      const rig = checkerRig();
      set(rig);
      await rig.checker.check(subject, none, progress());
      assert.equal(rig.checker.cached(subject, none), undefined);
    });
  }
});

describe('ImageChecker: the registry budget reserve', () => {
  const image = 'registry.example/team/app:1';

  it('an admission that joined a background verification held back at the reserve verifies on its own', async () => {
    const rig = checkerRig();
    rig.evaluator!.behaviour = 'reserved';
    rig.evaluator!.delayMs = 30;
    const background = asBackgroundWork({ reserved: new Map() }, () =>
      rig.checker.check(image, none, progress()),
    );
    await sleep(5);
    const admission = await rig.checker.check(image, none, progress());
    assert.equal(admission.kind, 'allowed', JSON.stringify(admission));
    const put = await background;
    assert.equal(put.kind === 'error' && put.code, 'BUDGET_RESERVED', JSON.stringify(put));
    assert.equal(rig.evaluator!.evaluations.length, 2);
  });

  it('background work keeps its own refusal and is not repeated', async () => {
    const rig = checkerRig();
    rig.evaluator!.behaviour = 'reserved';
    const put = await asBackgroundWork({ reserved: new Map() }, () =>
      rig.checker.check(image, none, progress()),
    );
    assert.equal(put.kind === 'error' && put.code, 'BUDGET_RESERVED');
    assert.equal(rig.evaluator!.evaluations.length, 1);
  });
});

describe('credentialScope', () => {
  const ref = parseNormalizedNamed('registry.example/team/app:1');
  const cases: Array<[string, string[], 'anonymous' | 'scoped']> = [
    ['no secrets', [], 'anonymous'],
    ['secrets for other registries only', [authFor('other.example', 'a')], 'anonymous'],
    ['a secret for the host', [authFor('registry.example', 'a')], 'scoped'],
    ['a secret for the repository namespace', [authFor('registry.example/team', 'a')], 'scoped'],
    ['a secret for another namespace', [authFor('registry.example/other', 'a')], 'anonymous'],
    ['a secret whose key only begins the namespace', [authFor('registry.example/te', 'a')], 'anonymous'],
    ['a secret for the repository itself', [authFor('registry.example/team/app', 'a')], 'scoped'],
    ['a secret for a longer repository', [authFor('registry.example/team/app2', 'a')], 'anonymous'],
    ['a secret with a URL key', [authFor('https://registry.example/', 'a')], 'scoped'],
    ['malformed documents', ['{not json', '[]', '{"auths": 3}'], 'anonymous'],
  ];
  for (const [what, docs, expected] of cases) {
    it(`${what}: ${expected}`, () => {
      const scope = credentialScope(ref, { dockerConfigJson: docs });
      assert.equal(scope === ANONYMOUS_SCOPE ? 'anonymous' : 'scoped', expected);
    });
  }
  it('differs between two users of one registry, and never contains the secret', () => {
    const a = credentialScope(ref, { dockerConfigJson: [authFor('registry.example', 'alice')] });
    const b = credentialScope(ref, { dockerConfigJson: [authFor('registry.example', 'bob')] });
    assert.notEqual(a, b);
    assert.doesNotMatch(a, /alice|YWxpY2U/);
  });
  // The scope names records other replicas (and other versions) read from the shared cache.
  it('is the sha256 of `key NUL entry NUL` of each applying entry, in order', () => {
    const sha = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);
    const host = authFor('registry.example', 'alice');
    const team = authFor('registry.example/team', 'bob');
    const entry = (doc: string) => JSON.stringify(Object.values(JSON.parse(doc).auths)[0]);
    assert.equal(
      credentialScope(ref, { dockerConfigJson: [host] }),
      sha(`registry.example\0${entry(host)}\0`),
    );
    assert.equal(
      credentialScope(ref, { dockerConfigJson: [host, authFor('other.example', 'x'), team] }),
      sha(`registry.example\0${entry(host)}\0registry.example/team\0${entry(team)}\0`),
    );
    assert.equal(
      credentialScope(ref, { dockerConfigJson: [team, host] }),
      sha(`registry.example/team\0${entry(team)}\0registry.example\0${entry(host)}\0`),
    );
  });
  it('parses a document once however many images ask, and follows a changed document at once', () => {
    const doc = authFor('registry.example', `parse-once-${process.pid}`);
    const parse = JSON.parse;
    let parsed = 0;
    JSON.parse = ((text: string, reviver?: Parameters<typeof parse>[1]) => {
      if (text === doc) parsed++;
      return parse(text, reviver);
    }) as typeof JSON.parse;
    let scopes: string[];
    try {
      scopes = ['registry.example/team/app:1', 'registry.example/team/db:2', 'registry.example/x:3'].map(
        (image) => credentialScope(parseNormalizedNamed(image), { dockerConfigJson: [`${doc}`] }),
      );
    } finally {
      JSON.parse = parse;
    }
    assert.equal(parsed, 1);
    assert.equal(new Set(scopes).size, 1, 'one entry for the whole registry: one scope');
    const rotated = authFor('registry.example', `parse-once-${process.pid}-rotated`);
    assert.notEqual(credentialScope(ref, { dockerConfigJson: [rotated] }), scopes[0]);
    assert.equal(credentialScope(ref, { dockerConfigJson: [doc] }), scopes[0]);
  });
  const keys: Array<[string, string]> = [
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['http://registry.example:5000/', 'registry.example:5000'],
    ['registry.example/ns/', 'registry.example/ns'],
  ];
  for (const [key, normalized] of keys) {
    it(`normalizes auth key ${key} to ${normalized}`, () => assert.equal(normalizeAuthKey(key), normalized));
  }
});
