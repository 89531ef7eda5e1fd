// How http.ts loads undici: its pool and request modules alone where they are what http.ts
// expects (start-up time), the package index where a future undici moved or changed them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadUndiciFrom, UNDICI_DEEP_MODULES } from '../../../../src/image/transports/docker/http.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';

let registry: TestRegistry;
before(async () => {
  registry = await startRegistry();
});
after(() => registry.stop());

describe('loading undici', () => {
  const table: [name: string, modules: readonly [string, string], deep: boolean][] = [
    ['the installed undici: its deep modules', UNDICI_DEEP_MODULES, true],
    ['deep modules missing: the index', ['undici/lib/no-such-agent.js', UNDICI_DEEP_MODULES[1]], false],
    [
      'a deep module exporting no Agent: the index',
      ['undici/lib/core/util.js', UNDICI_DEEP_MODULES[1]],
      false,
    ],
    [
      'a deep module exporting no request: the index',
      [UNDICI_DEEP_MODULES[0], 'undici/lib/core/symbols.js'],
      false,
    ],
  ];
  for (const [name, modules, deep] of table) {
    it(`${name}, and requests work`, async () => {
      const undici = await loadUndiciFrom(modules);
      assert.equal(undici.deep, deep);
      const dispatcher = new undici.Agent();
      try {
        const res = await undici.request(`http://${registry.host}/v2/`, { dispatcher, method: 'GET' });
        await res.body.dump();
        assert.equal(res.statusCode, 200);
      } finally {
        await dispatcher.close();
      }
    });
  }
});
