import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultTransportRegistry, transportRegistryFor } from '../../../../src/image/transports/all.ts';

for (const name of ['docker-daemon:busybox:latest', 'containers-storage:busybox']) {
  test(`${name.split(':')[0]}: answers NOT_SUPPORTED`, async () => {
    const registry = await defaultTransportRegistry();
    assert.throws(() => registry.parseImageName(name), { code: 'NOT_SUPPORTED' });
  });
}

test('the default registry knows every local transport', async () => {
  const names = (await defaultTransportRegistry()).names();
  for (const n of [
    'containers-storage',
    'dir',
    'docker-archive',
    'docker-daemon',
    'oci',
    'oci-archive',
    'sif',
    'tarball',
  ]) {
    assert.ok(names.includes(n), n);
  }
});

describe('transportRegistryFor', () => {
  const cases: { names: string[]; expected: string[] }[] = [
    { names: ['docker://example.com/a:v1'], expected: ['docker'] },
    { names: ['oci:/tmp/x:v1', 'dir:/tmp/y'], expected: ['dir', 'oci'] },
    { names: ['oci:/tmp/x', 'oci:/tmp/y'], expected: ['oci'] },
    { names: [], expected: [] },
  ];
  for (const { names, expected } of cases) {
    test(`${JSON.stringify(names)}: loads only ${JSON.stringify(expected)}`, async () => {
      assert.deepEqual((await transportRegistryFor(names)).names(), expected);
    });
  }

  test('an unknown transport gets every transport, so the error lists them all', async () => {
    const registry = await transportRegistryFor(['nosuch:x']);
    assert.deepEqual(registry.names(), (await defaultTransportRegistry()).names());
    assert.throws(() => registry.parseImageName('nosuch:x'), { code: 'TRANSPORT_UNKNOWN' });
  });
});
