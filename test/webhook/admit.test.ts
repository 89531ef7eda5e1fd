import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Verdict } from '../../src/policy/index.ts';
import { type AdmissionSettings, admit, type Checker } from '../../src/webhook/admit.ts';
import { createLogger } from '../../src/webhook/log.ts';
import { createMetrics } from '../../src/webhook/metrics.ts';
import { checkerRig, FakePullSecrets } from '../policy/fakes.ts';
import { podSpec, review, workload } from './rig.ts';

const SIGNED = 'registry.example/team/app:1.0';
const UNSIGNED = 'registry.example/unsigned/tool:2';

/** Pull secrets held in memory, as the cluster's secret source holds them once read. */
function knownSecrets(): FakePullSecrets {
  const secrets = new FakePullSecrets();
  secrets.known = true;
  return secrets;
}

function settings(checker: Checker, pullSecrets = knownSecrets()): AdmissionSettings {
  return {
    checks: () => [{ mode: 'enforce', checker }],
    pullSecrets,
    mode: 'enforce',
    deadlineMs: 2000,
    unknownKinds: 'allow',
    metrics: createMetrics(),
    logger: createLogger('debug', new Writable({ write: (_chunk, _encoding, done) => done() })),
  };
}

const pod = (images: readonly string[]) => review('', 'Pod', workload('', 'Pod', podSpec(images)));

describe('admit', () => {
  it('answers at once, without a promise, when every verdict is cached', async () => {
    const admission = settings(checkerRig().checker);
    const first = admit(admission, pod([SIGNED, UNSIGNED]), false);
    assert.ok(first instanceof Promise, 'the first review must wait for its verdicts');
    assert.equal((await first).review.response.allowed, false);
    const again = admit(admission, pod([SIGNED, UNSIGNED]), false);
    assert.ok(!(again instanceof Promise), 'a review whose verdicts are all cached is answered at once');
    assert.equal(again.status, 200);
    assert.equal(again.review.response.allowed, false);
    const signed = admit(admission, pod([SIGNED]), false);
    assert.ok(!(signed instanceof Promise));
    assert.deepEqual(signed.review.response, { uid: 'b6f0c0a4-6d1c-4c8e-9d1e-000000000001', allowed: true });
  });

  it('waits when the pull secrets are not known yet, even with cached verdicts', async () => {
    const { checker } = checkerRig();
    const admission = settings(checker);
    await admit(admission, pod([SIGNED]), false);
    const waiting = admit(settings(checker, new FakePullSecrets()), pod([SIGNED]), false);
    assert.ok(waiting instanceof Promise);
    assert.equal((await waiting).review.response.allowed, true);
  });

  it('answers reviews without images and invalid reviews at once', () => {
    const admission = settings(checkerRig().checker);
    const deletion = admit(admission, review('', 'Pod', null, { operation: 'DELETE' }), false);
    assert.ok(!(deletion instanceof Promise));
    assert.equal(deletion.review.response.allowed, true);
    const invalid = admit(admission, { apiVersion: 'v1' }, false);
    assert.ok(!(invalid instanceof Promise));
    assert.equal(invalid.status, 400);
  });

  it('denies, never throws, when a checker fails at once or later', async () => {
    const failing = (when: 'now' | 'later'): Checker => ({
      cached: () => {
        if (when === 'now') throw new Error('cache exploded');
        return undefined;
      },
      check: async (): Promise<Verdict> => {
        throw new Error('check exploded');
      },
    });
    const now = admit(settings(failing('now')), pod([SIGNED]), false);
    assert.ok(!(now instanceof Promise));
    assert.equal(now.review.response.allowed, false);
    assert.match(now.review.response.status?.message ?? '', /internal error: cache exploded/);
    const later = await admit(settings(failing('later')), pod([SIGNED]), false);
    assert.equal(later.review.response.allowed, false);
  });
});
