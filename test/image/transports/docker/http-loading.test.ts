// How http.ts loads undici: its pool and request modules alone where they are what http.ts
// expects (start-up time), the package index where a future undici moved or changed them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadUndiciFrom, type UndiciModules } from '../../../../src/image/transports/docker/http.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';

let registry: TestRegistry;
before(async () => {
  registry = await startRegistry();
});
after(() => registry.stop());

describe('loading undici', () => {
  const agent = 'undici/lib/dispatcher/agent.js';
  const request = 'undici/lib/api/api-request.js';
  const from =
    (a: string, r: string): UndiciModules =>
    () =>
      Promise.all([import(a), import(r)]);
  const table: [name: string, modules: UndiciModules | undefined, deep: boolean][] = [
    ['the installed undici: its deep modules', undefined, true],
    ['deep modules missing: the index', from('undici/lib/no-such-agent.js', request), false],
    ['a deep module exporting no Agent: the index', from('undici/lib/core/util.js', request), false],
    ['a deep module exporting no request: the index', from(agent, 'undici/lib/core/symbols.js'), false],
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
