import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import {
  type Compression,
  canChangeLayerCompression,
  compressionOfMediaType,
  DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_FOREIGN_LAYER_GZIP_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_UNCOMPRESSED_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_ZSTD_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  detectCompression,
  detectStreamCompression,
  layerMediaTypeWithCompression,
  mimeTypeSupportsCompression,
  OCI_LAYER_GZIP_MEDIA_TYPE,
  OCI_LAYER_MEDIA_TYPE,
  OCI_LAYER_NONDISTRIBUTABLE_ZSTD_MEDIA_TYPE,
  OCI_LAYER_ZSTD_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
} from '../../../src/image/index.ts';
import { readFixture } from './fixtures.ts';

describe('detectCompression (upstream pkg/compression fixtures)', () => {
  const cases: [string, Compression][] = [
    ['Hello.gz', 'gzip'],
    ['Hello.bz2', 'bzip2'],
    ['Hello.xz', 'xz'],
    ['Hello.zst', 'zstd'],
    ['Hello.uncompressed', 'uncompressed'],
  ];
  for (const [file, expected] of cases) {
    test(`${file} is ${expected}`, () => {
      assert.equal(detectCompression(readFixture(`pkg/compression/fixtures/${file}`)), expected);
    });
  }

  test('a prefix shorter than the magic is uncompressed', () => {
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b])), 'uncompressed');
    assert.equal(detectCompression(new Uint8Array()), 'uncompressed');
  });
});

describe('detectStreamCompression', () => {
  for (const [name, chunks] of [
    ['one chunk', [readFixture('pkg/compression/fixtures/Hello.zst')]],
    [
      'one byte at a time',
      [...readFixture('pkg/compression/fixtures/Hello.zst')].map((b) => Buffer.from([b])),
    ],
  ] as const) {
    test(`sees zstd and replays every byte (${name})`, async () => {
      const { compression, stream } = await detectStreamCompression(Readable.from(chunks));
      assert.equal(compression, 'zstd');
      assert.deepEqual(await buffer(stream), readFixture('pkg/compression/fixtures/Hello.zst'));
    });
  }

  test('an empty stream is uncompressed and stays empty', async () => {
    const { compression, stream } = await detectStreamCompression(Readable.from([]));
    assert.equal(compression, 'uncompressed');
    assert.equal((await buffer(stream)).length, 0);
  });

  test('a source error after the head reaches the consumer', async () => {
    async function* failing() {
      yield Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0]);
      throw new Error('connection reset');
    }
    const { compression, stream } = await detectStreamCompression(failing());
    assert.equal(compression, 'gzip');
    await assert.rejects(buffer(stream), /connection reset/);
  });
});

describe('layer media types and compression', () => {
  const cases: [string, string, 'uncompressed' | 'gzip' | 'zstd', string | undefined][] = [
    [OCI_MANIFEST_MEDIA_TYPE, OCI_LAYER_GZIP_MEDIA_TYPE, 'zstd', OCI_LAYER_ZSTD_MEDIA_TYPE],
    [OCI_MANIFEST_MEDIA_TYPE, OCI_LAYER_ZSTD_MEDIA_TYPE, 'uncompressed', OCI_LAYER_MEDIA_TYPE],
    [
      OCI_MANIFEST_MEDIA_TYPE,
      OCI_LAYER_NONDISTRIBUTABLE_ZSTD_MEDIA_TYPE,
      'gzip',
      'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    ],
    [
      DOCKER_V2_SCHEMA2_MEDIA_TYPE,
      DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE,
      'uncompressed',
      DOCKER_V2_SCHEMA2_LAYER_UNCOMPRESSED_MEDIA_TYPE,
    ],
    [
      DOCKER_V2_SCHEMA2_MEDIA_TYPE,
      'application/vnd.docker.image.rootfs.foreign.diff.tar',
      'gzip',
      DOCKER_V2_SCHEMA2_FOREIGN_LAYER_GZIP_MEDIA_TYPE,
    ],
    [DOCKER_V2_SCHEMA2_MEDIA_TYPE, DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE, 'zstd', undefined],
    [DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE, DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE, 'zstd', undefined],
  ];
  for (const [manifestType, layerType, compression, expected] of cases) {
    test(`${layerType} as ${compression} in ${manifestType}`, () => {
      if (expected === undefined) {
        assert.throws(() => layerMediaTypeWithCompression(manifestType, layerType, compression), {
          code: 'MANIFEST_LAYER_COMPRESSION_INCOMPATIBLE',
        });
      } else {
        assert.equal(layerMediaTypeWithCompression(manifestType, layerType, compression), expected);
      }
    });
  }

  test('what each media type declares', () => {
    assert.equal(compressionOfMediaType(DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE), 'gzip');
    assert.equal(compressionOfMediaType(DOCKER_V2_SCHEMA2_LAYER_ZSTD_MEDIA_TYPE), 'zstd');
    assert.equal(compressionOfMediaType(OCI_LAYER_MEDIA_TYPE), 'uncompressed');
    assert.equal(compressionOfMediaType(OCI_LAYER_NONDISTRIBUTABLE_ZSTD_MEDIA_TYPE), 'zstd');
    assert.equal(compressionOfMediaType('application/vnd.cncf.helm.chart.content.v1.tar+gzip'), undefined);
  });

  test('which formats carry which compression (upstream MIMETypeSupportsCompressionAlgorithm)', () => {
    assert.equal(mimeTypeSupportsCompression(OCI_MANIFEST_MEDIA_TYPE, 'zstd'), true);
    assert.equal(mimeTypeSupportsCompression(DOCKER_V2_SCHEMA2_MEDIA_TYPE, 'zstd'), false);
    assert.equal(mimeTypeSupportsCompression(DOCKER_V2_SCHEMA2_MEDIA_TYPE, 'gzip'), true);
    assert.equal(mimeTypeSupportsCompression(OCI_MANIFEST_MEDIA_TYPE, 'bzip2'), false);
  });

  test('unknown layer types are not recompressed (upstream CanChangeLayerCompression)', () => {
    assert.equal(canChangeLayerCompression(OCI_MANIFEST_MEDIA_TYPE, OCI_LAYER_GZIP_MEDIA_TYPE), true);
    assert.equal(
      canChangeLayerCompression(
        OCI_MANIFEST_MEDIA_TYPE,
        'a completely unknown and quite possibly invalid MIME type',
      ),
      false,
    );
    assert.equal(canChangeLayerCompression(DOCKER_V2_SCHEMA2_MEDIA_TYPE, OCI_LAYER_GZIP_MEDIA_TYPE), false);
  });
});
