import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  type ConversionResult,
  convertList,
  convertManifest,
  type Digest,
  DOCKER_V2_LIST_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  guessMIMEType,
  layerInfos,
  type Manifest,
  manifestDigest,
  OCI_INDEX_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  ociConfigFromConfig,
  parseList,
  parseManifest,
  serializeList,
  serializeManifest,
  updateLayerInfos,
  type WritableCompression,
} from '../../../src/image/index.ts';
import { internalFixture, manifestFixture, readFixture } from './fixtures.ts';
import {
  blob,
  gzipLayer,
  readDirBlob,
  readDirManifest,
  schema1WithNewLayers,
  schema2Manifest,
  scratch,
  skopeoCopy,
  writeDirImage,
} from './images.ts';

const imageFixture = (name: string) => readFixture(`internal/image/fixtures/${name}`);
const json = (bytes: Uint8Array) => JSON.parse(Buffer.from(bytes).toString());
const withoutConfig = (doc: Record<string, unknown>) => {
  const { config: _config, ...rest } = doc;
  return rest;
};

// upstream internal/image/docker_schema1_test.go schema1FixtureLayerInfos / LayerDiffIDs
const schema1Layers = (
  [
    ['sha256:9cadd93b16ff2a0c51ac967ea2abfadfac50cfa3af8b5bf983d89b8f8647f3e4', 74876245],
    ['sha256:4aa565ad8b7a87248163ce7dba1dd3894821aac97e846b932ff6b8ef9a8a508a', 1239],
    ['sha256:f576d102e09b9eef0e305aaef705d2d43a11bebc3fd5810a761624bd5e11997e', 78339724],
    ['sha256:9e92df2aea7dc0baf5f1f8d509678d6a6306de27ad06513f8e218371938c07a6', 76857203],
    ['sha256:62e48e39dc5b30b75a97f05bccc66efbae6058b860ee20a5c9a184b9d5e25788', 25923380],
    ['sha256:e623934bca8d1a74f51014256445937714481e49343a31bda2bc5f534748184d', 23511300],
  ] as const
).map(([digest, size]) => ({ digest: digest as Digest, size }));
const schema1DiffIDs = [
  'sha256:e1d829eddb62dc49f1c56dbf8acd0c71299b3996115399de853a9d66d81b822f',
  'sha256:02404b4d7e5d89b1383ca346b4462b199128aa4b238c5a2b2c186004ac148ba8',
  'sha256:45fad80a4b1cec165c421eb570dec312d825bd8fac362e255028fa3f2169148d',
  'sha256:7ddef8efd44586e54880ec4797458eac87b368544c438d7e7c63fbc0d9a7ae97',
  'sha256:b56b16b6407ba1b86252e7e50f98f142cf6844fab42e4495d56ebb7ce559e2af',
  'sha256:9bd63850e406167b4751f5050f6dc0ebd789bb5ef5e5c6c31ed062bda8c063e8',
] as Digest[];

describe('convertManifest matches upstream conversion fixtures', () => {
  const cases: [string, () => ConversionResult, string, string | undefined, boolean][] = [
    [
      'schema2 to OCI',
      () =>
        convertManifest(parseManifest(imageFixture('schema2.json')), OCI_MANIFEST_MEDIA_TYPE, {
          config: imageFixture('schema2-config.json'),
        }),
      'schema2-to-oci1.json',
      'schema2-to-oci1-config.json',
      false,
    ],
    [
      'schema2 with every layer type to OCI',
      () =>
        convertManifest(
          parseManifest(imageFixture('schema2-all-media-types.json')),
          OCI_MANIFEST_MEDIA_TYPE,
          { config: imageFixture('schema2-config.json') },
        ),
      'schema2-all-media-types-to-oci1.json',
      'schema2-to-oci1-config.json',
      false,
    ],
    [
      'OCI to schema2',
      () => convertManifest(parseManifest(imageFixture('oci1.json')), DOCKER_V2_SCHEMA2_MEDIA_TYPE),
      'oci1-to-schema2.json',
      undefined,
      false,
    ],
    [
      'schema1 to schema2',
      () =>
        convertManifest(parseManifest(imageFixture('schema1.json')), DOCKER_V2_SCHEMA2_MEDIA_TYPE, {
          diffIDs: schema1DiffIDs,
          layers: schema1Layers,
        }),
      'schema1-to-schema2.json',
      'schema1-to-schema2-config.json',
      true,
    ],
    [
      'schema1 to OCI',
      () =>
        convertManifest(parseManifest(imageFixture('schema1.json')), OCI_MANIFEST_MEDIA_TYPE, {
          diffIDs: schema1DiffIDs,
          layers: schema1Layers,
        }),
      'schema1-to-oci1.json',
      'schema1-to-oci1-config.json',
      true,
    ],
  ];
  for (const [name, convert, expected, expectedConfig, ignoreConfigDescriptor] of cases) {
    test(name, () => {
      const r = convert();
      const want = json(imageFixture(expected));
      assert.deepEqual(
        ignoreConfigDescriptor ? withoutConfig(json(r.bytes)) : json(r.bytes),
        ignoreConfigDescriptor ? withoutConfig(want) : want,
      );
      assert.equal(r.mimeType, want.mediaType);
      assert.deepEqual(json(serializeManifest(r.manifest)), json(r.bytes));
      if (expectedConfig === undefined) {
        assert.equal(r.config, undefined);
        return;
      }
      assert.ok(r.config !== undefined);
      assert.deepEqual(json(r.config.bytes), json(imageFixture(expectedConfig)));
      assert.equal(r.config.descriptor.size, r.config.bytes.byteLength);
      assert.equal(r.config.descriptor.digest, json(r.bytes).config.digest);
    });
  }
});

describe('conversion failures', () => {
  test('OCI layers with zstd cannot become schema2 without recompression', () => {
    assert.throws(
      () =>
        convertManifest(
          parseManifest(imageFixture('oci1-all-media-types.json')),
          DOCKER_V2_SCHEMA2_MEDIA_TYPE,
        ),
      {
        code: 'MANIFEST_CONVERSION_UNSUPPORTED',
      },
    );
  });

  const recompressed: [WritableCompression, string[]][] = [
    [
      'uncompressed',
      [
        'application/vnd.docker.image.rootfs.diff.tar',
        'application/vnd.docker.image.rootfs.diff.tar',
        'application/vnd.docker.image.rootfs.diff.tar',
        'application/vnd.docker.image.rootfs.foreign.diff.tar',
        'application/vnd.docker.image.rootfs.foreign.diff.tar',
        'application/vnd.docker.image.rootfs.foreign.diff.tar',
      ],
    ],
    [
      'gzip',
      [
        'application/vnd.docker.image.rootfs.diff.tar.gzip',
        'application/vnd.docker.image.rootfs.diff.tar.gzip',
        'application/vnd.docker.image.rootfs.diff.tar.gzip',
        'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
        'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
        'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      ],
    ],
  ];
  for (const [compression, mediaTypes] of recompressed) {
    test(`OCI layers of every type become schema2 once ${compression} (upstream TestManifestOCI1ConvertToManifestSchema2)`, () => {
      const m = parseManifest(imageFixture('oci1-all-media-types.json'));
      const updated = updateLayerInfos(
        m,
        layerInfos(m).map((l) => ({ digest: l.digest, size: l.size, compression })),
      );
      const r = convertManifest(updated, DOCKER_V2_SCHEMA2_MEDIA_TYPE);
      assert.deepEqual(
        json(r.bytes).layers.map((l: { mediaType: string }) => l.mediaType),
        mediaTypes,
      );
    });
  }

  const failures: [string, () => unknown, string][] = [
    [
      'an artifact to schema2',
      () => convertManifest(parseManifest(imageFixture('oci1-artifact.json')), DOCKER_V2_SCHEMA2_MEDIA_TYPE),
      'MANIFEST_NOT_AN_IMAGE',
    ],
    [
      'encrypted layers to schema2',
      () => convertManifest(parseManifest(imageFixture('oci1.encrypted.json')), DOCKER_V2_SCHEMA2_MEDIA_TYPE),
      'MANIFEST_CONVERSION_UNSUPPORTED',
    ],
    [
      'an unknown OCI layer type to schema2',
      () =>
        convertManifest(
          parseManifest(imageFixture('oci1-invalid-media-type.json')),
          DOCKER_V2_SCHEMA2_MEDIA_TYPE,
        ),
      'MANIFEST_CONVERSION_UNSUPPORTED',
    ],
    [
      'schema2 to OCI without its config',
      () => convertManifest(parseManifest(imageFixture('schema2.json')), OCI_MANIFEST_MEDIA_TYPE),
      'MANIFEST_CONVERSION_UNSUPPORTED',
    ],
    [
      'schema2 to OCI with another config',
      () =>
        convertManifest(parseManifest(imageFixture('schema2.json')), OCI_MANIFEST_MEDIA_TYPE, {
          config: Buffer.from('{}'),
        }),
      'CONFIG_DIGEST_MISMATCH',
    ],
    [
      'schema1 without diffIDs',
      () => convertManifest(parseManifest(imageFixture('schema1.json')), DOCKER_V2_SCHEMA2_MEDIA_TYPE),
      'MANIFEST_CONVERSION_UNSUPPORTED',
    ],
    [
      'schema1 with too few diffIDs',
      () =>
        convertManifest(parseManifest(imageFixture('schema1.json')), DOCKER_V2_SCHEMA2_MEDIA_TYPE, {
          diffIDs: schema1DiffIDs.slice(1),
        }),
      'MANIFEST_CONVERSION_UNSUPPORTED',
    ],
    [
      'anything to schema1',
      () =>
        convertManifest(
          parseManifest(imageFixture('schema2.json')),
          'application/vnd.docker.distribution.manifest.v1+prettyjws',
        ),
      'MANIFEST_CONVERSION_UNSUPPORTED',
    ],
    [
      'a manifest to a list type',
      () => convertManifest(parseManifest(imageFixture('schema2.json')), OCI_INDEX_MEDIA_TYPE),
      'MANIFEST_KIND_MISMATCH',
    ],
    [
      'a list to a manifest type',
      () => convertList(parseList(manifestFixture('v2list.manifest.json')), OCI_MANIFEST_MEDIA_TYPE),
      'MANIFEST_KIND_MISMATCH',
    ],
    [
      'writing schema1',
      () => serializeManifest(parseManifest(manifestFixture('v2s1.manifest.json'))),
      'MANIFEST_CONVERSION_UNSUPPORTED',
    ],
  ];
  for (const [name, f, code] of failures) {
    test(`${name}: ${code}`, () => {
      assert.throws(f, { code });
    });
  }
});

describe('round trips keep content', () => {
  test('schema2 -> OCI -> schema2 keeps layers and points at the OCI config', () => {
    const original = parseManifest(imageFixture('schema2.json'));
    const oci = convertManifest(original, OCI_MANIFEST_MEDIA_TYPE, {
      config: imageFixture('schema2-config.json'),
    });
    const back = convertManifest(oci.manifest, DOCKER_V2_SCHEMA2_MEDIA_TYPE);
    assert.ok(original.kind === 'schema2' && back.manifest.kind === 'schema2');
    assert.deepEqual(back.manifest.layers, original.layers);
    assert.equal(back.manifest.config.digest, oci.config?.descriptor.digest);
  });

  test('OCI -> schema2 -> OCI keeps layers and config', () => {
    const original = parseManifest(imageFixture('oci1.json'));
    const s2 = convertManifest(original, DOCKER_V2_SCHEMA2_MEDIA_TYPE);
    const back = convertManifest(s2.manifest, OCI_MANIFEST_MEDIA_TYPE, {
      config: imageFixture('oci1-config.json'),
    });
    assert.ok(original.kind === 'oci' && back.manifest.kind === 'oci');
    assert.deepEqual(
      back.manifest.layers.map((l) => [l.mediaType, l.digest, l.size, l.urls]),
      original.layers.map((l) => [l.mediaType, l.digest, l.size, l.urls]),
    );
    assert.deepEqual(back.config?.bytes, ociConfigFromConfig(imageFixture('oci1-config.json')));
  });

  const reserialized = [
    'v2s2.manifest.json',
    'v2s2.everything.json',
    'ociv1.manifest.json',
    'ociv1.everything.json',
    'ociv1nomime.manifest.json',
    'ociv1.zstd.manifest.json',
  ];
  for (const file of reserialized) {
    test(`${file} serializes to the same JSON`, () => {
      const bytes = manifestFixture(file);
      const m = parseManifest(bytes);
      assert.deepEqual(json(serializeManifest(m)), json(bytes));
      assert.deepEqual(parseManifest(serializeManifest(m), guessMIMEType(bytes)), m);
    });
  }

  // upstream TestParseLists: list -> index -> list and index -> list -> index lose nothing but
  // what the other format cannot carry (index annotations, docker platform features).
  for (const file of ['ociv1.image.index.json', 'v2list.manifest.json']) {
    test(`${file} converts both ways without loss`, () => {
      const list = parseList(manifestFixture(file));
      const pared = {
        ...list,
        annotations: undefined,
        instances: list.instances.map((i) =>
          i.platform === undefined ? i : { ...i, platform: { ...i.platform, features: undefined } },
        ),
      };
      const index = convertList(pared, OCI_INDEX_MEDIA_TYPE);
      const docker = convertList(pared, DOCKER_V2_LIST_MEDIA_TYPE);
      assert.deepEqual(json(convertList(docker.list, OCI_INDEX_MEDIA_TYPE).bytes), json(index.bytes));
      assert.deepEqual(json(convertList(index.list, DOCKER_V2_LIST_MEDIA_TYPE).bytes), json(docker.bytes));
      assert.deepEqual(
        parseList(index.bytes).instances.map((i) => i.digest),
        list.instances.map((i) => i.digest),
      );
    });
  }

  for (const file of ['v2list.everything.json', 'oci1.index.everything.json', 'oci1index.json']) {
    test(`${file} serializes to the same JSON`, () => {
      const bytes = internalFixture(file);
      const list = parseList(bytes);
      assert.deepEqual(json(serializeList(list)), json(bytes));
    });
  }

  test('index entries without a platform get the host platform in a Docker list', () => {
    const index = parseList(internalFixture('oci1.index.zstd-selection2.json'));
    const host = { os: 'linux', architecture: 'riscv64', variant: '' };
    const docker = convertList(index, DOCKER_V2_LIST_MEDIA_TYPE, { host });
    const missing = index.instances.flatMap((i, n) => (i.platform === undefined ? [n] : []));
    assert.ok(missing.length > 0);
    for (const n of missing)
      assert.deepEqual(docker.list.instances[n]?.platform, { os: 'linux', architecture: 'riscv64' });
  });
});

describe('updateLayerInfos (upstream *UpdateLayerInfos tables)', () => {
  const cases: [string, WritableCompression, string | undefined][] = [
    ['ociv1.manifest.json', 'zstd', 'ociv1.zstd.manifest.json'],
    ['ociv1.zstd.manifest.json', 'gzip', 'ociv1.manifest.json'],
    ['ociv1.zstd.manifest.json', 'uncompressed', 'ociv1.uncompressed.manifest.json'],
    ['ociv1.manifest.json', 'uncompressed', 'ociv1.uncompressed.manifest.json'],
    ['ociv1.nondistributable.manifest.json', 'gzip', 'ociv1.nondistributable.gzip.manifest.json'],
    ['ociv1.nondistributable.manifest.json', 'zstd', 'ociv1.nondistributable.zstd.manifest.json'],
    ['ociv1.nondistributable.gzip.manifest.json', 'uncompressed', 'ociv1.nondistributable.manifest.json'],
    ['v2s2.manifest.json', 'zstd', undefined],
    ['v2s2.manifest.json', 'uncompressed', 'v2s2.uncompressed.manifest.json'],
    ['v2s2.uncompressed.manifest.json', 'gzip', 'v2s2.manifest.json'],
    ['v2s2.nondistributable.manifest.json', 'gzip', 'v2s2.nondistributable.gzip.manifest.json'],
    ['v2s2.nondistributable.gzip.manifest.json', 'uncompressed', 'v2s2.nondistributable.manifest.json'],
    ['v2s1.manifest.json', 'zstd', undefined],
  ];
  for (const [source, compression, expected] of cases) {
    test(`${source} to ${compression}: ${expected ?? 'MANIFEST_LAYER_COMPRESSION_INCOMPATIBLE'}`, () => {
      const m = parseManifest(manifestFixture(source));
      const updates = layerInfos(m).map((l) => ({ digest: l.digest, size: l.size, compression }));
      if (expected === undefined) {
        assert.throws(() => updateLayerInfos(m, updates), {
          code: 'MANIFEST_LAYER_COMPRESSION_INCOMPATIBLE',
        });
        return;
      }
      const updated = updateLayerInfos(m, updates);
      assert.deepEqual(
        json(serializeManifest(updated)),
        json(serializeManifest(parseManifest(manifestFixture(expected)))),
      );
    });
  }

  test('schema1 layers keep their order and new digests', () => {
    const m = parseManifest(manifestFixture('v2s1.manifest.json'));
    const infos = layerInfos(m);
    const replaced = infos.map((l, i) => ({
      digest: (i === 0 ? `sha256:${'a'.repeat(64)}` : l.digest) as Digest,
      size: 1,
      compression: 'gzip' as const,
    }));
    const updated = updateLayerInfos(m, replaced) as Manifest & { kind: 'schema1' };
    assert.equal(updated.fsLayers.at(-1)?.blobSum, `sha256:${'a'.repeat(64)}`);
    assert.deepEqual(updated.fsLayers.slice(0, -1), m.kind === 'schema1' ? m.fsLayers.slice(0, -1) : []);
  });

  test('a different layer count is MANIFEST_LAYER_COUNT_MISMATCH', () => {
    const m = parseManifest(manifestFixture('v2s2.manifest.json'));
    assert.throws(() => updateLayerInfos(m, layerInfos(m).slice(1)), {
      code: 'MANIFEST_LAYER_COUNT_MISMATCH',
    });
  });

  test('an unknown layer type cannot be recompressed', () => {
    const m = parseManifest(manifestFixture('ociv1.invalid.mediatype.manifest.json'));
    assert.throws(
      () =>
        updateLayerInfos(
          m,
          layerInfos(m).map((l) => ({ digest: l.digest, size: l.size, compression: 'gzip' as const })),
        ),
      {
        code: 'MANIFEST_CONVERSION_UNSUPPORTED',
      },
    );
  });

  test('unchanged compression keeps unknown layer types, annotations and urls', () => {
    const m = parseManifest(manifestFixture('ociv1.everything.json'));
    const updated = updateLayerInfos(
      m,
      layerInfos(m).map((l) => ({ digest: l.digest, size: l.size })),
    );
    assert.deepEqual(updated, m);
  });
});

describe('conversions agree byte for byte with skopeo copy --format', () => {
  test('schema2 to OCI and back (manifest and config)', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const layers = [gzipLayer(2000), gzipLayer(700)];
      const config = blob(imageFixture('schema2-config.json'));
      const manifest = schema2Manifest(layers, config, 3);
      const src = await writeDirImage(join(dir, 'src'), manifest, [...layers, config]);
      await skopeoCopy(src, join(dir, 'oci'), 'oci');
      const ours = convertManifest(parseManifest(manifest), OCI_MANIFEST_MEDIA_TYPE, {
        config: config.bytes,
      });
      const theirs = await readDirManifest(join(dir, 'oci'));
      assert.equal(Buffer.from(ours.bytes).toString(), theirs.toString());
      assert.equal(
        Buffer.from(ours.config?.bytes ?? []).toString(),
        (await readDirBlob(join(dir, 'oci'), json(theirs).config.digest)).toString(),
      );

      await skopeoCopy(join(dir, 'oci'), join(dir, 'back'), 'v2s2');
      const back = convertManifest(ours.manifest, DOCKER_V2_SCHEMA2_MEDIA_TYPE);
      assert.equal(Buffer.from(back.bytes).toString(), (await readDirManifest(join(dir, 'back'))).toString());
      assert.equal(back.config, undefined);
    } finally {
      await cleanup();
    }
  });

  for (const fixture of ['schema1.json', 'schema2-to-schema1-by-docker.json']) {
    test(`schema1 (${fixture} history) to schema2 and OCI`, async () => {
      const { dir, cleanup } = await scratch();
      try {
        const { manifest, layers } = schema1WithNewLayers(imageFixture(fixture));
        const src = await writeDirImage(join(dir, 'src'), manifest, layers);
        const parsed = parseManifest(manifest);
        const baseFirst = layers.toReversed();
        const options = { diffIDs: baseFirst.map((l) => l.diffID), layers: baseFirst };
        for (const [format, type] of [
          ['v2s2', DOCKER_V2_SCHEMA2_MEDIA_TYPE],
          ['oci', OCI_MANIFEST_MEDIA_TYPE],
        ] as const) {
          await skopeoCopy(src, join(dir, format), format);
          const theirs = await readDirManifest(join(dir, format));
          const ours = convertManifest(parsed, type, options);
          assert.equal(Buffer.from(ours.bytes).toString(), theirs.toString(), `${format} manifest`);
          assert.equal(
            Buffer.from(ours.config?.bytes ?? []).toString(),
            (await readDirBlob(join(dir, format), json(theirs).config.digest)).toString(),
            `${format} config`,
          );
          assert.equal(manifestDigest(ours.bytes), manifestDigest(theirs));
        }
      } finally {
        await cleanup();
      }
    });
  }
});
