import assert from 'node:assert/strict';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { withGcPacing } from '../../src/cli/gc-pacing.ts';

/** Young collections V8 reports while `work` runs. */
async function youngCollectionsDuring(work: () => Promise<unknown>): Promise<number> {
  let young = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) young++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    await work().catch(() => {});
    await sleep(10); // gc entries are delivered asynchronously
  } finally {
    observer.disconnect();
  }
  return young;
}

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('young-generation GC pacing during copies', () => {
  it('collects the young generation while the work runs, without allocating', async () => {
    // Idle waiting allocates almost nothing: V8 alone barely collects in 300 ms; paced, every 25 ms.
    const idle = await youngCollectionsDuring(() => sleep(300));
    const paced = await youngCollectionsDuring(() => withGcPacing(() => sleep(300)));
    assert.ok(paced >= idle + 5, `${paced} young collections paced, ${idle} idle`);
  });

  it('returns the result, rethrows the failure, and leaves no timer behind', async () => {
    const before = timers();
    assert.equal(await withGcPacing(async () => 42), 42);
    await assert.rejects(
      withGcPacing(async () => {
        throw new Error('copy failed');
      }),
      /copy failed/,
    );
    assert.equal(timers(), before);
  });

  it('keeps collecting until the last of concurrent copies ends, then stops', async () => {
    const before = timers();
    const afterFirst = await youngCollectionsDuring(async () => {
      const second = withGcPacing(() => sleep(300));
      await withGcPacing(() => sleep(10));
      await second;
    });
    assert.ok(afterFirst >= 3, `${afterFirst} young collections`);
    assert.equal(timers(), before);
  });
});
