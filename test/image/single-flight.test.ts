import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FlightWaiters, JoinedFlight, Serializer, SingleFlight } from '../../src/image/single-flight.ts';

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

describe('JoinedFlight', () => {
  /** Work that settles when the test says, remembering what it saw of its waiters. */
  const controlled = () => {
    let finish: (value: string) => void = () => {};
    const seen: { waiters?: FlightWaiters; runs: number } = { runs: 0 };
    const work = (waiters: FlightWaiters) => {
      seen.runs++;
      seen.waiters = waiters;
      return new Promise<string>((resolve) => {
        finish = resolve;
      });
    };
    return { work, seen, finish: (value: string) => finish(value) };
  };
  const gaveUp = () => new Error('gave up');

  it('a waiter that gives up stops waiting; the work goes on for the others', async () => {
    const flight = new JoinedFlight<string>();
    const { work, seen, finish } = controlled();
    const impatient = new AbortController();
    const first = flight.join('k', { signal: impatient.signal, deadline: 10 }, work, gaveUp);
    const second = flight.join('k', { signal: new AbortController().signal, deadline: 20 }, work, gaveUp);
    impatient.abort();
    await assert.rejects(first, /gave up/);
    assert.equal(seen.waiters?.signal.aborted, false);
    finish('answer');
    assert.equal(await second, 'answer');
    assert.equal(seen.runs, 1);
    assert.equal(flight.size, 0);
  });

  it('is aborted once every waiter gave up; the next caller starts it afresh', async () => {
    const flight = new JoinedFlight<string>();
    const { work, seen } = controlled();
    const a = new AbortController();
    const b = new AbortController();
    const waits = [a, b].map((c) => flight.join('k', { signal: c.signal, deadline: 1 }, work, gaveUp));
    a.abort();
    assert.equal(seen.waiters?.signal.aborted, false);
    b.abort();
    await Promise.all(waits.map((w) => assert.rejects(w, /gave up/)));
    assert.equal(seen.waiters?.signal.aborted, true);
    void flight.join('k', { signal: undefined, deadline: 1 }, work, gaveUp);
    assert.equal(seen.runs, 2);
  });

  it('a waiter without a signal keeps the work going', async () => {
    const flight = new JoinedFlight<string>();
    const { work, seen, finish } = controlled();
    const a = new AbortController();
    const waiting = flight.join('k', { signal: a.signal, deadline: 1 }, work, gaveUp);
    const steady = flight.join('k', { signal: undefined, deadline: 1 }, work, gaveUp);
    a.abort();
    await assert.rejects(waiting, /gave up/);
    assert.equal(seen.waiters?.signal.aborted, false);
    finish('answer');
    assert.equal(await steady, 'answer');
  });

  it("the work's deadline is the latest of the waiters still waiting", async () => {
    const flight = new JoinedFlight<string>();
    const { work, seen, finish } = controlled();
    const late = new AbortController();
    const first = flight.join('k', { signal: new AbortController().signal, deadline: 100 }, work, gaveUp);
    assert.equal(seen.waiters?.deadline, 100);
    const second = flight.join('k', { signal: late.signal, deadline: 300 }, work, gaveUp);
    assert.equal(seen.waiters?.deadline, 300);
    late.abort();
    await assert.rejects(second, /gave up/);
    assert.equal(seen.waiters?.deadline, 100);
    finish('answer');
    assert.equal(await first, 'answer');
  });

  it('a caller whose signal has already aborted does not start the work', async () => {
    const flight = new JoinedFlight<string>();
    const { work, seen } = controlled();
    await assert.rejects(
      flight.join('k', { signal: AbortSignal.abort(), deadline: 1 }, work, gaveUp),
      /gave up/,
    );
    assert.equal(seen.runs, 0);
    assert.equal(flight.size, 0);
  });
});
