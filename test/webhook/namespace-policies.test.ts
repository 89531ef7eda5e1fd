// Policy objects chosen by namespace (serve --watch-policies): each has its own mode, all must
// admit, the file policy applies besides them only when configured, and unknown policies fail closed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NamespacePolicies, ScopedPolicy } from '../../src/webhook/admit.ts';
import { FakeEvaluator } from '../policy/fakes.ts';
import { appRig, podSpec, post, review, workload } from './rig.ts';

const SIGNED = 'registry.example/team/app:1.0';
const UNSIGNED = 'registry.example/unsigned/tool:2';
const REJECTED = 'registry.example/rejected/x:1';

function policies(scoped: readonly ScopedPolicy[], withFilePolicy = false): NamespacePolicies {
  return { withFilePolicy, policiesFor: () => scoped };
}

const pod = (...images: string[]) => review('', 'Pod', workload('', 'Pod', podSpec(images)));

describe('namespace policies', () => {
  it('an enforce policy denies, naming itself before the reason', async () => {
    const { app } = appRig({
      policies: policies([
        { key: 'ClusterImagePolicy/signed', mode: 'enforce', evaluator: new FakeEvaluator() },
      ]),
    });
    const { body } = await post(app, '/validate', pod(UNSIGNED));
    assert.equal(body.response.allowed, false);
    assert.equal(
      body.response.status.message,
      `image "${UNSIGNED}" at spec.containers[0].image is not trusted: ClusterImagePolicy/signed: a signature was required, but no signature exists`,
    );
  });

  it('a warn policy admits with a warning while an enforce policy in the same namespace admits', async () => {
    const { app } = appRig({
      policies: policies([
        { key: 'ClusterImagePolicy/open', mode: 'enforce', evaluator: new FakeEvaluator() },
        { key: 'ImagePolicy/team-a/strict', mode: 'warn', evaluator: new FakeEvaluator() },
      ]),
    });
    const { body } = await post(app, '/validate', pod(REJECTED.replace('rejected', 'team')));
    assert.deepEqual(body.response, { uid: body.response.uid, allowed: true });
    const warned = await post(app, '/validate', pod(SIGNED, UNSIGNED));
    assert.equal(warned.body.response.allowed, false, 'the enforce policy denies the unsigned image too');
    assert.deepEqual(warned.body.response.warnings, [
      `portcullis: image "${UNSIGNED}" at spec.containers[1].image is not trusted: ImagePolicy/team-a/strict: a signature was required, but no signature exists`,
    ]);
    assert.doesNotMatch(warned.body.response.status.message, /ImagePolicy\/team-a\/strict/);
  });

  it('only warn refusals: admitted with one warning per refusal', async () => {
    const { app } = appRig({
      policies: policies([{ key: 'ClusterImagePolicy/w', mode: 'warn', evaluator: new FakeEvaluator() }]),
    });
    const { body } = await post(app, '/validate', pod(UNSIGNED));
    assert.equal(body.response.allowed, true);
    assert.equal(body.response.warnings.length, 1);
    assert.equal(body.response.auditAnnotations.decision, 'warned');
  });

  it('a policy that never compiled makes every image undecided: denied in enforce mode', async () => {
    const { app } = appRig({
      policies: policies([{ key: 'ClusterImagePolicy/broken', mode: 'enforce', failure: 'key not found' }]),
    });
    const { body } = await post(app, '/validate', pod(SIGNED));
    assert.equal(body.response.allowed, false);
    assert.match(
      body.response.status.message,
      /could not be verified: ClusterImagePolicy\/broken: key not found$/,
    );
  });

  it('the file policy applies besides the namespace policies only when configured', async () => {
    const open = { key: 'ClusterImagePolicy/open', mode: 'enforce', evaluator: new FakeEvaluator() } as const;
    // The rig's own evaluator (the file policy) rejects `rejected/`; the policy object would too,
    // so a namespace policy that admits everything shows which applied.
    const admitting = new FakeEvaluator();
    admitting.decideWithoutImage = async () => ({ kind: 'allowed', reason: 'any', verified: false });
    const without = appRig({ policies: policies([{ ...open, evaluator: admitting }]) });
    assert.equal((await post(without.app, '/validate', pod(REJECTED))).body.response.allowed, true);
    const withFile = appRig({ policies: policies([{ ...open, evaluator: admitting }], true) });
    assert.equal((await post(withFile.app, '/validate', pod(REJECTED))).body.response.allowed, false);
  });

  it('no policy for the namespace and no file policy: admitted without a check', async () => {
    const { app, resolver } = appRig({ policies: policies([]) });
    const { body } = await post(app, '/validate', pod(UNSIGNED));
    assert.equal(body.response.allowed, true);
    assert.deepEqual(resolver.calls, []);
  });

  it('policies not known yet fail closed', async () => {
    const { app } = appRig({
      policies: {
        withFilePolicy: false,
        policiesFor: () => {
          throw new Error('not synced');
        },
      },
    });
    const { body } = await post(app, '/validate', pod(SIGNED));
    assert.equal(body.response.allowed, false);
    assert.match(body.response.status.message, /reading the policies of namespace team-a: not synced/);
  });

  it('/mutate pins a digest only when every policy admitted the image', async () => {
    const warnOnly = new FakeEvaluator();
    // Verdicts are cached by policy hash: a different policy has a different one.
    warnOnly.policyHash = 'policy-b';
    warnOnly.evaluate = async () => ({ kind: 'denied', reason: 'not in the allow list' });
    const { app } = appRig({
      policies: policies([
        { key: 'ClusterImagePolicy/a', mode: 'enforce', evaluator: new FakeEvaluator() },
        { key: 'ClusterImagePolicy/b', mode: 'warn', evaluator: warnOnly },
      ]),
    });
    const { body } = await post(app, '/mutate', pod(SIGNED));
    assert.equal(body.response.allowed, true);
    assert.equal(body.response.patch, undefined);
  });
});
