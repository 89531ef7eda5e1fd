import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultTransportRegistry } from '../../../../src/image/transports/all.ts';

for (const name of ['docker-daemon:busybox:latest', 'containers-storage:busybox']) {
  test(`${name.split(':')[0]}: answers NOT_SUPPORTED`, () => {
    assert.throws(() => defaultTransportRegistry().parseImageName(name), { code: 'NOT_SUPPORTED' });
  });
}

test('the default registry knows every local transport', () => {
  const names = defaultTransportRegistry().names();
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
