import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { digestOf } from '../../../../src/image/digest.ts';
import { ociTransport } from '../../../../src/image/transports/oci/transport.ts';
import { conformancePath } from '../../../helpers/conformance.ts';
import { syntheticImage, writeOciLayout } from '../../../helpers/images.ts';
import { skopeo } from '../../../helpers/skopeo.ts';

const fixtures = conformancePath('containers-image/oci/layout/fixtures');
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'oci-transport-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('oci: references', () => {
  const valid: [string, string, string][] = [
    ['/etc:someimage:mytag', '/etc:someimage:mytag', '/etc'],
    ['/tmp/x', '/tmp/x:', '/tmp/x'],
    ['/tmp/x:@2', '/tmp/x:@2', '/tmp/x'],
    ['/tmp/x:name/with/slashes', '/tmp/x:name/with/slashes', '/tmp/x'],
  ];
  for (const [input, canonical, identity] of valid) {
    test(`${input} parses; the image name is not part of the identity`, () => {
      const ref = ociTransport.parseReference(input);
      assert.equal(ref.stringWithinTransport(), canonical);
      assert.equal(ref.policyConfigurationIdentity(), identity);
      assert.equal(ref.policyConfigurationNamespaces()[0], identity);
    });
  }
  const invalid = ['/tmp/x:@-1', '/tmp/x:@abc', '/tmp/x:bad name', '/tmp/x:-leading', ':tag'];
  for (const input of invalid) {
    test(`${JSON.stringify(input)} is rejected with REFERENCE_INVALID`, () => {
      assert.throws(() => ociTransport.parseReference(input), { code: 'REFERENCE_INVALID' });
    });
  }
  test('namespaces start with the directory itself and stop before "/"', () => {
    const dir = join(root, 'c');
    const parts = dir.split('/').filter(Boolean);
    const expected = parts.map((_, i) => `/${parts.slice(0, parts.length - i).join('/')}`);
    assert.deepEqual(ociTransport.parseReference(`${dir}:tag`).policyConfigurationNamespaces(), expected);
  });

  test('a path whose parent does not exist is rejected', () => {
    assert.throws(() => ociTransport.parseReference('/nonexistent-parent/x/y:tag'), {
      code: 'REFERENCE_INVALID',
    });
  });
});

describe('oci: upstream fixtures', () => {
  const lookups: [string, string | undefined][] = [
    ['a', 'sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'],
    ['b', 'sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'],
    ['c', 'sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc'],
    ['d', 'sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd'],
  ];
  for (const [name, digest] of lookups) {
    test(`name_lookups: ${name} selects ${digest?.slice(0, 16)}…`, async () => {
      const src = await ociTransport.parseReference(`${fixtures}/name_lookups:${name}`).newImageSource({});
      // The fixture has index.json only: reading the manifest shows which descriptor was chosen.
      await assert.rejects(src.getManifest(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'BLOB_NOT_FOUND');
        assert.match(err.message, new RegExp(digest!));
        return true;
      });
      await src.close();
    });
  }
  const failures: [string, string][] = [
    [`${fixtures}/name_lookups:invalid-mime`, 'MANIFEST_TYPE_REJECTED'],
    [`${fixtures}/name_lookups:absent`, 'IMAGE_NOT_FOUND'],
    [`${fixtures}/name_lookups`, 'MORE_THAN_ONE_IMAGE'],
    [`${fixtures}/name_lookups:@9`, 'IMAGE_NOT_FOUND'],
    [`${fixtures}/two_images_manifest`, 'MORE_THAN_ONE_IMAGE'],
  ];
  for (const [name, code] of failures) {
    test(`${name.slice(fixtures.length + 1)} fails with ${code}`, async () => {
      await assert.rejects(ociTransport.parseReference(name).newImageSource({}), { code });
    });
  }

  test('every tagged image of delete_image_multiple_images reads like skopeo reads it', async () => {
    const layout = `${fixtures}/delete_image_multiple_images`;
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    for (const d of index.manifests) {
      const name = d.annotations['org.opencontainers.image.ref.name'];
      const src = await ociTransport.parseReference(`${layout}:${name}`).newImageSource({});
      try {
        const ours = await src.getManifest();
        const theirs = await skopeo('inspect', '--raw', `oci:${layout}:${name}`);
        assert.equal(Buffer.from(ours.manifest).toString(), theirs, name);
        assert.equal(ours.mimeType, d.mediaType);
      } finally {
        await src.close();
      }
    }
  });
});

describe('oci: destination', () => {
  test('skopeo reads a layout we wrote, and a second name keeps the first', async () => {
    const image = syntheticImage();
    const layout = join(root, 'written');
    for (const name of ['one', 'two']) {
      const dest = await ociTransport.parseReference(`${layout}:${name}`).newImageDestination({});
      try {
        for (const blob of [image.config, ...image.layers]) {
          await dest.putBlob(
            Readable.from([blob]),
            { digest: digestOf(blob), size: blob.length },
            { isConfig: false },
          );
        }
        await dest.putManifest(image.manifest, 'application/vnd.oci.image.manifest.v1+json');
        await dest.commit();
      } finally {
        await dest.close();
      }
    }
    for (const name of ['one', 'two']) {
      assert.equal(await skopeo('inspect', '--raw', `oci:${layout}:${name}`), image.manifest.toString());
    }
    assert.equal(JSON.parse(await readFile(join(layout, 'oci-layout'), 'utf8')).imageLayoutVersion, '1.0.0');
  });

  test('an uncommitted destination removes the blobs it wrote and a directory it created', async () => {
    const layout = join(root, 'aborted');
    const dest = await ociTransport.parseReference(`${layout}:x`).newImageDestination({});
    await dest.putBlob(Readable.from([Buffer.from('blob')]), { size: -1 }, { isConfig: false });
    await dest.close();
    assert.ok(!(await readdir(root)).includes('aborted'));
  });

  test('an uncommitted write into an existing layout leaves it as it was', async () => {
    const layout = join(root, 'existing');
    await writeOciLayout(layout, { v1: syntheticImage() });
    const before = (await readdir(join(layout, 'blobs', 'sha256'))).sort();
    const indexBefore = await readFile(join(layout, 'index.json'), 'utf8');
    const dest = await ociTransport.parseReference(`${layout}:v2`).newImageDestination({});
    await dest.putBlob(Readable.from([Buffer.from('new blob')]), { size: -1 }, { isConfig: false });
    await dest.close();
    assert.deepEqual((await readdir(join(layout, 'blobs', 'sha256'))).sort(), before);
    assert.equal(await readFile(join(layout, 'index.json'), 'utf8'), indexBefore);
  });

  test('signatures are refused with SIGNATURES_NOT_SUPPORTED', async () => {
    const dest = await ociTransport.parseReference(`${join(root, 'sig')}:x`).newImageDestination({});
    try {
      assert.ok(dest.supportsSignatures());
      await assert.rejects(dest.putSignatures([{ format: 'simple-signing', blob: Buffer.from([0xa3]) }]), {
        code: 'SIGNATURES_NOT_SUPPORTED',
      });
    } finally {
      await dest.close();
    }
  });
});
