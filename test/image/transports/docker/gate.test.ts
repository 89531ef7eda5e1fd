// The reserve of a registry budget: background work takes pulls only while the bucket keeps the
// reserve, never waits for refill, and meets Retry-After pauses as admissions do.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DockerError } from '../../../../src/image/transports/docker/errors.ts';
import {
  asBackgroundWork,
  type BackgroundWork,
  type GatePass,
  passGate,
  RegistryGate,
} from '../../../../src/image/transports/docker/gate.ts';

const FAR = Number.POSITIVE_INFINITY;

describe('RegistryGate reserve', () => {
  it('refuses a background pull at the reserve while admissions still take the rest', () => {
    const gate = new RegistryGate({ pulls: 4, periodMs: 4000, reserve: 2 }, 0);
    assert.deepEqual(gate.reserve(true, 0, FAR, 'background'), { go: true, at: 0 });
    assert.deepEqual(gate.reserve(true, 0, FAR, 'background'), { go: true, at: 0 });
    assert.deepEqual(gate.reserve(true, 0, FAR, 'background'), { go: false, at: 1000, by: 'reserve' });
    assert.deepEqual(
      gate.reserve(false, 0, FAR, 'background'),
      { go: true, at: 0 },
      'other requests are not metered',
    );
    assert.deepEqual(gate.reserve(true, 0, FAR, 'admission'), { go: true, at: 0 });
    assert.deepEqual(gate.reserve(true, 0, FAR, 'admission'), { go: true, at: 0 });
    assert.deepEqual(
      gate.reserve(true, 0, FAR, 'admission'),
      { go: true, at: 1000 },
      'admissions wait for refill',
    );
  });

  it('never makes a background pull wait for refill, whatever the caller would wait', () => {
    const gate = new RegistryGate({ pulls: 2, periodMs: 2000, reserve: 1 }, 0);
    gate.reserve(true, 0, FAR, 'admission');
    gate.reserve(true, 0, FAR, 'admission');
    assert.deepEqual(gate.reserve(true, 0, FAR, 'background'), { go: false, at: 2000, by: 'reserve' });
    assert.deepEqual(gate.reserve(true, 0, FAR, 'admission'), { go: true, at: 1000 });
    assert.deepEqual(
      gate.reserve(true, 0, FAR, 'background'),
      { go: false, at: 3000, by: 'reserve' },
      'pulls promised to waiting admissions come first',
    );
  });

  it('lets background pulls go again once the bucket refilled above the reserve', () => {
    const gate = new RegistryGate({ pulls: 3, periodMs: 3000, reserve: 1 }, 0);
    for (let i = 0; i < 3; i++) gate.reserve(true, 0, FAR, 'admission');
    assert.equal(gate.reserve(true, 1500, FAR, 'background').go, false);
    assert.deepEqual(gate.reserve(true, 2000, FAR, 'background'), { go: true, at: 2000 });
    assert.deepEqual(gate.reserve(true, 2000, FAR, 'admission'), { go: true, at: 2000 });
    assert.deepEqual(gate.reserve(true, 60_000, FAR, 'background'), { go: true, at: 60_000 });
    assert.deepEqual(gate.reserve(true, 60_000, FAR, 'background'), { go: true, at: 60_000 });
    assert.equal(gate.reserve(true, 60_000, FAR, 'background').go, false, 'refilled up to the budget only');
  });

  it('holds back both purposes during a Retry-After pause', () => {
    const gate = new RegistryGate({ pulls: 10, periodMs: 1000, reserve: 2 }, 0);
    gate.pause(5000, 0);
    assert.deepEqual(gate.reserve(true, 0, 1000, 'background'), { go: false, at: 5000, by: 'pause' });
    assert.deepEqual(gate.reserve(true, 0, 1000, 'admission'), { go: false, at: 5000, by: 'pause' });
    assert.deepEqual(gate.reserve(false, 0, FAR, 'background'), { go: true, at: 5000 });
    assert.deepEqual(gate.reserve(true, 0, FAR, 'background'), { go: true, at: 5000 });
    assert.deepEqual(gate.reserve(true, 0, FAR, 'admission'), { go: true, at: 5000 });
  });

  it('keeps no reserve for a budget without one', () => {
    const gate = new RegistryGate({ pulls: 1, periodMs: 1000 }, 0);
    assert.deepEqual(gate.reserve(true, 0, FAR, 'background'), { go: true, at: 0 });
    assert.equal(new RegistryGate(undefined, 0).reserve(true, 0, FAR, 'background').go, true);
  });
});

describe('passGate as background work', () => {
  const pass = (gate: RegistryGate): GatePass => ({
    gate,
    registry: 'docker.io',
    maxWaitMs: 60_000,
    sleep: async () => {},
  });
  const bounds = { signal: undefined, deadline: FAR };
  const url = 'https://registry-1.docker.io/v2/library/x/manifests/1';

  it('fails with BUDGET_RESERVED and notes the registry, while an admission at the same time goes', async () => {
    const gate = new RegistryGate({ pulls: 2, periodMs: 3_600_000, reserve: 1 }, performance.now());
    const work: BackgroundWork = { reserved: new Map() };
    await asBackgroundWork(work, () => passGate(pass(gate), true, url, bounds));
    const refused = await asBackgroundWork(work, () => passGate(pass(gate), true, url, bounds)).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(refused instanceof DockerError);
    assert.equal(refused.code, 'BUDGET_RESERVED');
    assert.equal(refused.temporary, true);
    assert.ok(refused.retryAfter !== undefined && refused.retryAfter >= 1700, String(refused.retryAfter));
    assert.deepEqual([...work.reserved.keys()], ['docker.io']);
    await passGate(pass(gate), true, url, bounds);
  });
});
