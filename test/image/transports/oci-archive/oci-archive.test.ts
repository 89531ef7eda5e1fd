import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TarWriter } from '../../../../src/image/archive/tar.ts';
import { ociArchiveTransport } from '../../../../src/image/transports/oci-archive/transport.ts';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'oci-archive-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('oci-archive:', () => {
  test('identity is the resolved archive file; namespaces start with it', () => {
    const ref = ociArchiveTransport.parseReference(`${root}/a.tar:img`);
    assert.equal(ref.stringWithinTransport(), `${root}/a.tar:img`);
    assert.equal(ref.policyConfigurationIdentity(), `${root}/a.tar`);
    assert.deepEqual(ref.policyConfigurationNamespaces().slice(0, 2), [`${root}/a.tar`, root]);
  });

  test('an archive whose entries escape the root is refused with CORRUPT_IMAGE, nothing extracted outside', async () => {
    const evil = join(root, 'evil.tar');
    const out = createWriteStream(evil);
    const tar = new TarWriter(out);
    await tar.addBytes('../../escaped', Buffer.from('x'));
    await tar.finish();
    await assert.rejects(
      ociArchiveTransport.parseReference(evil).newImageSource({}),
      (err: Error & { code?: string; cause?: { code?: string } }) => {
        assert.equal(err.code, 'CORRUPT_IMAGE');
        assert.equal(err.cause?.code, 'TAR_UNSAFE_PATH');
        return true;
      },
    );
    assert.deepEqual(await readdir(root), ['evil.tar']);
  });

  test('a missing archive fails with IMAGE_NOT_FOUND', async () => {
    await assert.rejects(ociArchiveTransport.parseReference(join(root, 'none.tar')).newImageSource({}), {
      code: 'IMAGE_NOT_FOUND',
    });
  });

  test('an archive without index.json fails with IMAGE_NOT_FOUND', async () => {
    const empty = join(root, 'empty.tar');
    const out = createWriteStream(empty);
    const tar = new TarWriter(out);
    await tar.addBytes('hello', Buffer.from('x'));
    await tar.finish();
    await assert.rejects(ociArchiveTransport.parseReference(empty).newImageSource({}), {
      code: 'IMAGE_NOT_FOUND',
    });
  });
});
