import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Serializer, SingleFlight } from '../../src/image/single-flight.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('SingleFlight', () => {
  it('shares work in flight for a key, and runs it again once it has settled', async () => {
    const flight = new SingleFlight<number>();
    let runs = 0;
    const work = async () => {
      const run = ++runs;
      await tick();
      return run;
    };
    const [a, b, c] = await Promise.all([
      flight.run('k', work),
      flight.run('k', work),
      flight.run('j', work),
    ]);
    assert.deepEqual(
      [a, b],
      [
        { value: 1, shared: false },
        { value: 1, shared: true },
      ],
    );
    assert.equal(c.shared, false);
    assert.equal((await flight.run('k', work)).shared, false);
    assert.equal(runs, 3);
  });

  it('after a failure, each waiter runs its own work, one at a time', async () => {
    const flight = new SingleFlight<string>();
    let running = 0;
    let most = 0;
    const attempt = (outcome: 'fail' | 'ok') => async () => {
      most = Math.max(most, ++running);
      await tick();
      running--;
      if (outcome === 'fail') throw new Error('registry said no');
      return 'stored';
    };
    const results = await Promise.allSettled([
      flight.run('k', attempt('fail')),
      flight.run('k', attempt('ok')),
      flight.run('k', attempt('ok')),
    ]);
    assert.equal(results[0]!.status, 'rejected');
    const values = results.slice(1).map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    assert.deepEqual(values, [
      { value: 'stored', shared: false },
      { value: 'stored', shared: true },
    ]);
    assert.equal(most, 1);
  });
});

describe('Serializer', () => {
  it('runs work on one key in turn, past failures, and work on other keys beside it', async () => {
    const serial = new Serializer();
    const order: string[] = [];
    const step =
      (name: string, fail = false) =>
      async () => {
        order.push(`${name} start`);
        await tick();
        order.push(`${name} end`);
        if (fail) throw new Error(name);
        return name;
      };
    const results = await Promise.allSettled([
      serial.run('k', step('a', true)),
      serial.run('k', step('b')),
      serial.run('j', step('c')),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'fulfilled', 'fulfilled'],
    );
    assert.ok(order.indexOf('a end') < order.indexOf('b start'));
    assert.ok(order.indexOf('c start') < order.indexOf('a end'));
  });
});
