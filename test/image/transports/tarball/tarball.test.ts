import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { copyImage } from '../../../../src/image/copy/index.ts';
import { defaultTransportRegistry } from '../../../../src/image/transports/all.ts';
import { tarballTransport } from '../../../../src/image/transports/tarball/transport.ts';
import { tarOf } from '../../../helpers/images.ts';
import { skopeo } from '../../../helpers/skopeo.ts';

let root: string;
let plain: string;
let gz: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tarball-'));
  plain = join(root, 'layer.tar');
  gz = join(root, 'layer.tar.gz');
  const tar = tarOf('hello.txt', Buffer.from('hello'));
  await writeFile(plain, tar);
  await writeFile(gz, gzipSync(tarOf('other.txt', Buffer.from('other'))));
  const when = new Date('2024-05-06T07:08:09.123Z');
  await utimes(plain, when, when);
  await utimes(gz, when, when);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('tarball:', () => {
  test('config matches skopeo byte for byte; the manifest too apart from its mediaType field', async () => {
    const src = await tarballTransport.parseReference(`${gz}:${plain}`).newImageSource({});
    try {
      const manifest = JSON.parse(Buffer.from((await src.getManifest()).manifest).toString());
      const theirs = JSON.parse(await skopeo('inspect', '--raw', `tarball:${gz}:${plain}`));
      // skopeo 1.9.3 predates the mediaType field that current upstream writes.
      delete manifest.mediaType;
      assert.deepEqual(manifest, theirs);
      assert.deepEqual(
        manifest.layers.map((l: { mediaType: string }) => l.mediaType),
        ['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar'],
      );
    } finally {
      await src.close();
    }
  });

  test('copies to dir: and is read-only', async () => {
    const t = await defaultTransportRegistry();
    await copyImage(t.parseImageName(`dir:${join(root, 'out')}`), t.parseImageName(`tarball:${plain}`));
    await assert.rejects(tarballTransport.parseReference(plain).newImageDestination({}), {
      code: 'READ_ONLY',
    });
  });

  test('only the "" scope: any scope is rejected; identity is empty', () => {
    assert.throws(() => tarballTransport.validatePolicyConfigurationScope('/a'), { code: 'SCOPE_INVALID' });
    const ref = tarballTransport.parseReference(plain);
    assert.equal(ref.policyConfigurationIdentity(), '');
    assert.deepEqual(ref.policyConfigurationNamespaces(), []);
  });

  test('a missing file fails with IMAGE_NOT_FOUND', async () => {
    await assert.rejects(tarballTransport.parseReference(join(root, 'absent.tar')).newImageSource({}), {
      code: 'IMAGE_NOT_FOUND',
    });
  });
});
