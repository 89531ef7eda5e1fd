import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
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

describe('oci: delete (upstream oci_delete_test.go cases)', () => {
  async function clone(name: string): Promise<string> {
    const dir = join(root, `del-${name}-${Math.random().toString(16).slice(2)}`);
    await cp(`${fixtures}/${name}`, dir, { recursive: true });
    return dir;
  }
  async function remaining(dir: string, sub = 'blobs'): Promise<string[]> {
    return (await readdir(join(dir, sub, 'sha256'))).map((h) => `sha256:${h}`);
  }
  async function entries(dir: string): Promise<{ annotations?: Record<string, string> }[]> {
    return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')).manifests;
  }
  const cases: [string, string, number, number, string[], string[]][] = [
    ['delete_image_only_one_image', 'latest', 0, 0, [], []],
    ['delete_image_only_one_image', '', 0, 0, [], []],
    [
      'delete_image_multiple_images',
      '3.17.5',
      16,
      6,
      [],
      [
        'sha256:5b2aba4d3c27bc6493633d0ec446b25c8d0a5c9cfe99894bcdff0aee80813805',
        'sha256:df11bc189adeb50dadb3291a3a7f2c34b36e0efdba0df70f2c8a2d761b215cde',
        'sha256:986315a0e599fac2b80eb31db2124dab8d3de04d7ca98b254999bd913c1f73fe',
      ],
    ],
    [
      'delete_image_multiple_images',
      '1.0.0',
      17,
      6,
      ['sha256:df11bc189adeb50dadb3291a3a7f2c34b36e0efdba0df70f2c8a2d761b215cde'],
      [
        'sha256:0dc27f36a618c110ae851662c13283e9fbc1b5a5de003befc4bcefa5a05d2eef',
        'sha256:a6f737ac2b84bc463f2ff721af39588c69646c82f79f3808236178e02e35b922',
      ],
    ],
    [
      'delete_image_multiple_images',
      '3.16.7',
      12,
      6,
      [],
      ['sha256:861d3c014b0e3edcf80e6221247d6b2921a4f892feb9bafe9515b9975b78c44f'],
    ],
    ['delete_image_multiple_images', '3.18.3', 19, 6, [], []],
    [
      'delete_image_two_identical_references',
      '1.0.0',
      3,
      1,
      [
        'sha256:ecfa463536cb5472e238aadc4df81d4785d5d6373027c488a2db8a6e76fe88ed',
        'sha256:ce229a4eb5797ecd3a3a1846613b6b49811f79e38b5b0ce666268ba4b6c68e41',
        'sha256:fa00bb4e2adbc73a5da1fd54d2a840020592530a8d4e8de9888b9e9a533419d8',
      ],
      [],
    ],
  ];
  for (const [fixture, name, blobs, left, kept, gone] of cases) {
    test(`${fixture}:${name} leaves ${blobs} blobs and ${left} index entries`, async () => {
      const dir = await clone(fixture);
      await ociTransport.parseReference(`${dir}:${name}`).deleteImage({});
      const now = await remaining(dir);
      assert.equal(now.length, blobs);
      for (const k of kept) assert.ok(now.includes(k), k);
      for (const g of gone) assert.ok(!now.includes(g), g);
      const index = await entries(dir);
      assert.equal(index.length, left);
      if (name !== '' && fixture !== 'delete_image_two_identical_references') {
        assert.ok(index.every((e) => e.annotations?.['org.opencontainers.image.ref.name'] !== name));
      }
    });
  }

  test('shared blob directory: its blobs stay, the local ones go', async () => {
    const dir = await clone('delete_image_shared_blobs_dir');
    await ociTransport
      .parseReference(`${dir}:latest`)
      .deleteImage({ ociSharedBlobDir: join(dir, 'shared_blobs') });
    assert.equal((await remaining(dir)).length, 0);
    assert.equal((await remaining(dir, 'shared_blobs')).length, 2);
    assert.equal((await entries(dir)).length, 0);
  });

  const failing: [string, string, string][] = [
    ['delete_image_multiple_images', 'does-not-exist', 'IMAGE_NOT_FOUND'],
    ['delete_image_multiple_images', '', 'MORE_THAN_ONE_IMAGE'],
  ];
  for (const [fixture, name, code] of failing) {
    test(`${fixture}:${name || '(no name)'} fails with ${code} and changes nothing`, async () => {
      const dir = await clone(fixture);
      const before = await readFile(join(dir, 'index.json'), 'utf8');
      await assert.rejects(ociTransport.parseReference(`${dir}:${name}`).deleteImage({}), { code });
      assert.equal(await readFile(join(dir, 'index.json'), 'utf8'), before);
    });
  }
});
