import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerArchiveTransport } from '../../../../src/image/transports/docker-archive/transport.ts';
import { conformancePath } from '../../../helpers/conformance.ts';
import { skopeo } from '../../../helpers/skopeo.ts';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'docker-archive-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('docker-archive: references', () => {
  // alltransports_test.go round trip, plus the index and error forms of transport.go.
  const valid: [string, string, string | undefined][] = [
    [
      '/var/lib/oci/busybox.tar:busybox:latest',
      '/var/lib/oci/busybox.tar:docker.io/library/busybox:latest',
      'docker.io/library/busybox:latest',
    ],
    ['/tmp/a.tar:busybox', '/tmp/a.tar:docker.io/library/busybox:latest', 'docker.io/library/busybox:latest'],
    ['/tmp/a.tar', '/tmp/a.tar', undefined],
    ['/tmp/a.tar:@1', '/tmp/a.tar:@1', undefined],
  ];
  for (const [input, canonical, docker] of valid) {
    test(`${input} -> ${canonical}`, () => {
      const ref = dockerArchiveTransport.parseReference(input);
      assert.equal(ref.stringWithinTransport(), canonical);
      assert.equal(ref.dockerReference()?.toString(), docker);
      assert.equal(ref.policyConfigurationIdentity(), '');
      assert.deepEqual(ref.policyConfigurationNamespaces(), []);
    });
  }
  const invalid = [
    '',
    '/tmp/a.tar:@-1',
    '/tmp/a.tar:@x',
    `/tmp/a.tar:busybox@sha256:${'a'.repeat(64)}`,
    `/tmp/a.tar:busybox:tag@sha256:${'a'.repeat(64)}`,
    '/tmp/a.tar:UPPER',
  ];
  for (const input of invalid) {
    test(`${JSON.stringify(input)} is rejected`, () => {
      assert.throws(() => dockerArchiveTransport.parseReference(input), { code: 'REFERENCE_INVALID' });
    });
  }
  test('every scope except "" is rejected', () => {
    assert.throws(() => dockerArchiveTransport.validatePolicyConfigurationScope('/tmp'), {
      code: 'SCOPE_INVALID',
    });
  });
});

describe('docker-archive: upstream fixture almostempty.tar', () => {
  test('manifest is generated exactly as skopeo generates it', async () => {
    const fixture = conformancePath('containers-image/docker/archive/fixtures/almostempty.tar');
    const src = await dockerArchiveTransport.parseReference(fixture).newImageSource({});
    try {
      assert.equal(
        Buffer.from((await src.getManifest()).manifest).toString(),
        await skopeo('inspect', '--raw', `docker-archive:${fixture}`),
      );
    } finally {
      await src.close();
    }
  });

  test('a file that is not a tar fails with CORRUPT_IMAGE and leaves no temp files', async () => {
    const bad = join(root, 'bad.tar');
    await writeFile(bad, Buffer.alloc(3000, 0x41));
    await assert.rejects(dockerArchiveTransport.parseReference(bad).newImageSource({}), {
      code: 'CORRUPT_IMAGE',
    });
    assert.deepEqual(await readdir(root), ['bad.tar']);
  });

  test('an uncommitted destination leaves nothing behind', async () => {
    const dest = await dockerArchiveTransport.parseReference(join(root, 'never.tar')).newImageDestination({});
    await dest.close();
    assert.ok(!(await readdir(root)).some((f) => f.includes('never')));
  });
});
