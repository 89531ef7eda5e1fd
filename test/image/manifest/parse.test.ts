import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  bareMediaType,
  DEFAULT_REQUESTED_MANIFEST_MIME_TYPES,
  DOCKER_V2_LIST_MEDIA_TYPE,
  DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  guessMIMEType,
  isListMIMEType,
  isManifestMIMEType,
  MANIFEST_SIZE_MAX,
  ManifestError,
  normalizedMIMEType,
  OCI_INDEX_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  parseList,
  parseManifest,
} from '../../../src/image/index.ts';
import { imageFixtures, internalFixture, manifestFixture, readFixture } from './fixtures.ts';

// What each fixture parses as (kind) or the error code it fails with, with the type guessed.
const expectations: Record<string, string> = {
  'non-json.manifest.json': 'MANIFEST_UNSUPPORTED_TYPE',
  // Upstream accepts this synthetic artifact; its config digest "" and null layers are invalid per
  // image-spec, and we validate digests.
  'ociv1.artifact.json': 'MANIFEST_INVALID',
  'ociv1nomime.artifact.json': 'MANIFEST_INVALID',
  'ociv1.encrypted.manifest.json': 'oci',
  'ociv1.everything.json': 'oci',
  'ociv1.image.index.json': 'oci-index',
  // OCI layer media types are open-ended; upstream parses this (TestConvertToV2S2WithInvalidMIMEType).
  'ociv1.invalid.mediatype.manifest.json': 'oci',
  'ociv1.manifest.json': 'oci',
  'ociv1.nondistributable.gzip.manifest.json': 'oci',
  'ociv1.nondistributable.manifest.json': 'oci',
  'ociv1.nondistributable.zstd.manifest.json': 'oci',
  'ociv1.uncompressed.manifest.json': 'oci',
  'ociv1.zstd.manifest.json': 'oci',
  'ociv1nomime.image.index.json': 'oci-index',
  'ociv1nomime.manifest.json': 'oci',
  'schema2-to-schema1-by-docker.json': 'schema1',
  'unknown-version.manifest.json': 'MANIFEST_UNSUPPORTED_TYPE',
  'v2list.manifest.json': 'docker-list',
  // No fsLayers: upstream Schema1FromManifest fails the same way.
  'v2s1-invalid-signatures.manifest.json': 'MANIFEST_INVALID',
  'v2s1-unsigned.manifest.json': 'schema1',
  'v2s1.everything.json': 'schema1',
  'v2s1.manifest.json': 'schema1',
  'v2s2.everything.json': 'schema2',
  'v2s2.manifest.json': 'schema2',
  'v2s2.nondistributable.gzip.manifest.json': 'schema2',
  'v2s2.nondistributable.manifest.json': 'schema2',
  'v2s2.uncompressed.manifest.json': 'schema2',
  // Upstream Schema2FromManifest rejects an empty mediaType (SupportedSchema2MediaType).
  'v2s2nomime.manifest.json': 'MANIFEST_INVALID',
  'oci1.index.everything.json': 'oci-index',
  'oci1.index.zstd-selection.json': 'oci-index',
  'oci1.index.zstd-selection2.json': 'oci-index',
  'oci1index.json': 'oci-index',
  'ocilist-variants.json': 'oci-index',
  'schema2list-variants.json': 'docker-list',
  'schema2list.json': 'docker-list',
  'v2list.everything.json': 'docker-list',
};

function parseGuessed(bytes: Uint8Array): string {
  try {
    const type = guessMIMEType(bytes);
    return isListMIMEType(type) ? parseList(bytes).kind : parseManifest(bytes).kind;
  } catch (err) {
    assert.ok(err instanceof ManifestError, `expected ManifestError, got ${err}`);
    return err.code;
  }
}

describe('every manifest fixture parses or fails as upstream', () => {
  for (const dir of ['manifest/fixtures', 'internal/manifest/testdata']) {
    for (const file of readdirSync(join(imageFixtures, dir))) {
      test(`${dir}/${file}: ${expectations[file]}`, () => {
        assert.ok(Object.hasOwn(expectations, file), `no expectation for ${file}`);
        assert.equal(parseGuessed(readFixture(`${dir}/${file}`)), expectations[file]);
      });
    }
  }

  const others: [string, string][] = [
    ['signature/fixtures/image.manifest.json', 'schema2'],
    ['signature/fixtures/v2s1-invalid-signatures.manifest.json', 'MANIFEST_INVALID'],
    ['signature/fixtures/dir-img-valid/manifest.json', 'schema2'],
    ['signature/fixtures/dir-img-cosign-pki-valid/manifest.json', 'oci'],
    ['signature/fixtures/dir-img-manifest-digest-error/manifest.json', 'MANIFEST_INVALID'],
    ['oci/layout/fixtures/two_images_manifest/index.json', 'oci-index'],
    ['oci/layout/fixtures/name_lookups/index.json', 'oci-index'],
    ['internal/image/fixtures/schema2.json', 'schema2'],
    ['internal/image/fixtures/schema2-all-media-types.json', 'schema2'],
    ['internal/image/fixtures/oci1-all-media-types.json', 'oci'],
    ['internal/image/fixtures/oci1.encrypted.json', 'oci'],
    ['internal/image/fixtures/schema1.json', 'schema1'],
    // upstream manifestSchema2FromFixture(..., mustFail=true)
    ['internal/image/fixtures/schema2-invalid-media-type.json', 'MANIFEST_INVALID'],
    ['internal/image/fixtures/oci1-invalid-media-type.json', 'oci'],
  ];
  for (const [file, expected] of others) {
    test(`${file}: ${expected}`, () => {
      assert.equal(parseGuessed(readFixture(file)), expected);
    });
  }
});

describe('parsed content', () => {
  test('schema2 config and layers', () => {
    const m = parseManifest(manifestFixture('v2s2.manifest.json'), DOCKER_V2_SCHEMA2_MEDIA_TYPE);
    assert.equal(m.kind, 'schema2');
    assert.deepEqual(m.config, {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      size: 7023,
      digest: 'sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7',
    });
    assert.equal(m.layers.length, 3);
    assert.equal(
      m.layers[0]?.digest,
      'sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f',
    );
  });

  test('OCI everything keeps subject, artifactType, annotations and urls', () => {
    const m = parseManifest(manifestFixture('ociv1.everything.json'), OCI_MANIFEST_MEDIA_TYPE);
    assert.equal(m.kind, 'oci');
    const doc = JSON.parse(manifestFixture('ociv1.everything.json').toString());
    assert.deepEqual(m.annotations, doc.annotations);
    assert.deepEqual(m.subject?.digest, doc.subject?.digest);
    assert.equal(m.artifactType, doc.artifactType);
    assert.deepEqual(
      m.layers.map((l) => [l.mediaType, l.digest, l.size, l.urls, l.annotations]),
      doc.layers.map((l: Record<string, unknown>) => [l.mediaType, l.digest, l.size, l.urls, l.annotations]),
    );
  });

  test('schema1 history IDs are checked and consecutive duplicates removed', () => {
    const m = parseManifest(manifestFixture('schema2-to-schema1-by-docker.json'));
    assert.equal(m.kind, 'schema1');
    assert.equal(m.fsLayers.length, m.history.length);
    assert.equal(m.v1Compatibility.length, m.fsLayers.length);
    for (const [i, c] of m.v1Compatibility.entries()) {
      assert.equal(c.parent, m.v1Compatibility[i + 1]?.id);
    }
  });

  test('docker list instances with platforms', () => {
    const list = parseList(internalFixture('v2list.everything.json'), DOCKER_V2_LIST_MEDIA_TYPE);
    const doc = JSON.parse(internalFixture('v2list.everything.json').toString());
    assert.deepEqual(
      list.instances.map((i) => [
        i.digest,
        i.size,
        i.mediaType,
        i.platform?.os,
        i.platform?.architecture,
        i.platform?.variant,
        i.platform?.osVersion,
        i.platform?.osFeatures,
        i.platform?.features,
        i.urls,
      ]),
      doc.manifests.map((m: Record<string, Record<string, unknown>>) => [
        m.digest,
        m.size,
        m.mediaType,
        m.platform?.os,
        m.platform?.architecture,
        m.platform?.variant,
        m.platform?.['os.version'],
        m.platform?.['os.features'],
        m.platform?.features,
        m.urls,
      ]),
    );
  });

  test('OCI index keeps annotations, subject and per-instance annotations', () => {
    const bytes = internalFixture('oci1.index.everything.json');
    const list = parseList(bytes, OCI_INDEX_MEDIA_TYPE);
    const doc = JSON.parse(bytes.toString());
    assert.deepEqual(list.annotations, doc.annotations);
    assert.equal(list.subject?.digest, doc.subject?.digest);
    assert.deepEqual(
      list.instances.map((i) => i.annotations),
      doc.manifests.map((m: Record<string, unknown>) => m.annotations),
    );
  });
});

describe('schema mismatches are rejected (upstream *FromManifest tests)', () => {
  const cases: [string, string, string[]][] = [
    [
      'schema1',
      DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE,
      ['v2s2.manifest.json', 'v2list.manifest.json', 'ociv1.manifest.json', 'ociv1.image.index.json'],
    ],
    [
      'schema2',
      DOCKER_V2_SCHEMA2_MEDIA_TYPE,
      [
        'schema2-to-schema1-by-docker.json',
        'v2list.manifest.json',
        'ociv1.manifest.json',
        'ociv1.image.index.json',
      ],
    ],
    // Upstream cannot tell v2s2 from OCI without mediaType; we check mediaType when present.
    [
      'OCI manifest',
      OCI_MANIFEST_MEDIA_TYPE,
      [
        'schema2-to-schema1-by-docker.json',
        'v2list.manifest.json',
        'ociv1.image.index.json',
        'v2s2.manifest.json',
      ],
    ],
  ];
  for (const [name, type, files] of cases) {
    for (const file of files) {
      test(`${file} as ${name}`, () => {
        assert.throws(() => parseManifest(manifestFixture(file), type), ManifestError);
      });
    }
  }
  const lists: [string, string, string[]][] = [
    [
      'docker list',
      DOCKER_V2_LIST_MEDIA_TYPE,
      [
        'schema2-to-schema1-by-docker.json',
        'v2s2.manifest.json',
        'ociv1.manifest.json',
        'ociv1.image.index.json',
      ],
    ],
    [
      'OCI index',
      OCI_INDEX_MEDIA_TYPE,
      [
        'schema2-to-schema1-by-docker.json',
        'v2s2.manifest.json',
        'ociv1.manifest.json',
        'v2list.manifest.json',
      ],
    ],
  ];
  for (const [name, type, files] of lists) {
    for (const file of files) {
      test(`${file} as ${name}`, () => {
        assert.throws(() => parseList(manifestFixture(file), type), ManifestError);
      });
    }
  }

  test('a list is not a single manifest and vice versa', () => {
    assert.throws(() => parseManifest(manifestFixture('v2list.manifest.json')), {
      code: 'MANIFEST_KIND_MISMATCH',
    });
    assert.throws(() => parseList(manifestFixture('v2s2.manifest.json')), { code: 'MANIFEST_KIND_MISMATCH' });
  });
});

describe('fields of another format make a manifest ambiguous', () => {
  const withField = (bytes: Buffer, field: string) => {
    const text = bytes.toString();
    const end = text.lastIndexOf('}');
    return Buffer.from(`${text.slice(0, end)},"${field}":[]}`);
  };
  const cases: [string, string, string[], 'manifest' | 'list'][] = [
    [
      'schema2-to-schema1-by-docker.json',
      DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE,
      ['config', 'layers', 'manifests'],
      'manifest',
    ],
    ['v2s2.manifest.json', DOCKER_V2_SCHEMA2_MEDIA_TYPE, ['fsLayers', 'history', 'manifests'], 'manifest'],
    ['ociv1.manifest.json', OCI_MANIFEST_MEDIA_TYPE, ['fsLayers', 'history', 'manifests'], 'manifest'],
    ['v2list.manifest.json', DOCKER_V2_LIST_MEDIA_TYPE, ['config', 'fsLayers', 'history', 'layers'], 'list'],
    ['ociv1.image.index.json', OCI_INDEX_MEDIA_TYPE, ['config', 'fsLayers', 'history', 'layers'], 'list'],
  ];
  for (const [file, type, fields, kind] of cases) {
    for (const field of fields) {
      test(`${file} with ${field}`, () => {
        const bytes = withField(manifestFixture(file), field);
        const parse = kind === 'list' ? () => parseList(bytes, type) : () => parseManifest(bytes, type);
        assert.throws(parse, { code: 'MANIFEST_AMBIGUOUS' });
      });
    }
  }
});

describe('MIME type resolution', () => {
  test('normalizedMIMEType keeps manifest types and maps anything else to signed schema1 (upstream TestNormalizedMIMEType)', () => {
    for (const t of DEFAULT_REQUESTED_MANIFEST_MIME_TYPES) assert.equal(normalizedMIMEType(t), t);
    for (const t of ['application/json', 'text/plain', 'not at all a valid MIME type', '']) {
      assert.equal(normalizedMIMEType(t), DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE);
    }
  });
  test('the default Accept list has every manifest type, lists last', () => {
    assert.equal(new Set(DEFAULT_REQUESTED_MANIFEST_MIME_TYPES).size, 6);
    assert.deepEqual(DEFAULT_REQUESTED_MANIFEST_MIME_TYPES.slice(-2), [
      DOCKER_V2_LIST_MEDIA_TYPE,
      OCI_INDEX_MEDIA_TYPE,
    ]);
    assert.ok(DEFAULT_REQUESTED_MANIFEST_MIME_TYPES.every((t) => isManifestMIMEType(t)));
  });
  test('bareMediaType drops parameters from a Content-Type', () => {
    assert.equal(
      bareMediaType('Application/Vnd.OCI.Image.Manifest.v1+json; charset=utf-8'),
      OCI_MANIFEST_MEDIA_TYPE,
    );
  });

  test('application/json means schema1', () => {
    assert.equal(parseManifest(manifestFixture('v2s1.manifest.json'), 'application/json').kind, 'schema1');
  });
  test('an unknown Content-Type falls back to the content', () => {
    assert.equal(parseManifest(manifestFixture('v2s2.manifest.json'), 'text/plain').kind, 'schema2');
  });
  test('content that is no manifest is MANIFEST_UNSUPPORTED_TYPE', () => {
    assert.throws(() => parseManifest(Buffer.from('{"hello":1}'), 'text/plain'), {
      code: 'MANIFEST_UNSUPPORTED_TYPE',
    });
  });
});

describe('hostile input gives typed errors', () => {
  const v2s2 = () => JSON.parse(manifestFixture('v2s2.manifest.json').toString());
  const oci = () => JSON.parse(manifestFixture('ociv1.manifest.json').toString());
  const list = () => JSON.parse(manifestFixture('v2list.manifest.json').toString());
  const index = () => JSON.parse(manifestFixture('ociv1.image.index.json').toString());
  type Case = [string, string, () => unknown, string];
  const edit =
    <T>(base: () => T, f: (doc: T) => void) =>
    () => {
      const doc = base();
      f(doc);
      return doc;
    };
  const S2 = DOCKER_V2_SCHEMA2_MEDIA_TYPE;
  const O = OCI_MANIFEST_MEDIA_TYPE;
  const L = DOCKER_V2_LIST_MEDIA_TYPE;
  const I = OCI_INDEX_MEDIA_TYPE;
  const S1 = DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE;
  const cases: Case[] = [
    ['null document', S2, () => null, 'MANIFEST_INVALID'],
    ['array document', S2, () => [1, 2], 'MANIFEST_INVALID'],
    ['string document', O, () => 'x', 'MANIFEST_INVALID'],
    [
      'schemaVersion as string',
      S2,
      edit(v2s2, (d) => {
        d.schemaVersion = '2';
      }),
      'MANIFEST_INVALID',
    ],
    [
      'config null',
      S2,
      edit(v2s2, (d) => {
        d.config = null;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'config an array',
      O,
      edit(oci, (d) => {
        d.config = [];
      }),
      'MANIFEST_INVALID',
    ],
    [
      'layers an object',
      S2,
      edit(v2s2, (d) => {
        d.layers = {};
      }),
      'MANIFEST_INVALID',
    ],
    [
      'layer null',
      O,
      edit(oci, (d) => {
        d.layers[0] = null;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'layer a string',
      S2,
      edit(v2s2, (d) => {
        d.layers[1] = 'sha256:x';
      }),
      'MANIFEST_INVALID',
    ],
    [
      'size a string',
      S2,
      edit(v2s2, (d) => {
        d.layers[0].size = '12';
      }),
      'MANIFEST_INVALID',
    ],
    [
      'size fractional',
      O,
      edit(oci, (d) => {
        d.layers[0].size = 1.5;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'size below -1',
      O,
      edit(oci, (d) => {
        d.layers[0].size = -2;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'size huge',
      O,
      edit(oci, (d) => {
        d.config.size = 1e300;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'size beyond 2^53',
      S2,
      edit(v2s2, (d) => {
        d.config.size = 2 ** 60;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'digest missing',
      S2,
      edit(v2s2, (d) => {
        delete d.layers[0].digest;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'digest a number',
      O,
      edit(oci, (d) => {
        d.config.digest = 5;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'digest unsupported algorithm',
      O,
      edit(oci, (d) => {
        d.config.digest = 'md5:2872f31c5c1f62a694fbd20c1e85257c';
      }),
      'MANIFEST_INVALID',
    ],
    [
      'digest short',
      S2,
      edit(v2s2, (d) => {
        d.layers[0].digest = 'sha256:abc';
      }),
      'MANIFEST_INVALID',
    ],
    [
      'digest path traversal',
      O,
      edit(oci, (d) => {
        d.layers[0].digest = 'sha256:../../etc/passwd';
      }),
      'MANIFEST_INVALID',
    ],
    [
      'layer mediaType unknown for schema2',
      S2,
      edit(v2s2, (d) => {
        d.layers[0].mediaType = 'application/x-evil';
      }),
      'MANIFEST_INVALID',
    ],
    [
      'layer mediaType missing for OCI',
      O,
      edit(oci, (d) => {
        delete d.layers[0].mediaType;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'schema2 mediaType of a list',
      S2,
      edit(v2s2, (d) => {
        d.mediaType = L;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'OCI mediaType of an index',
      O,
      edit(oci, (d) => {
        d.mediaType = I;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'urls not strings',
      S2,
      edit(v2s2, (d) => {
        d.layers[0].urls = [1];
      }),
      'MANIFEST_INVALID',
    ],
    [
      'annotations not strings',
      O,
      edit(oci, (d) => {
        d.annotations = { a: 1 };
      }),
      'MANIFEST_INVALID',
    ],
    [
      'annotations an array',
      O,
      edit(oci, (d) => {
        d.layers[0].annotations = ['a'];
      }),
      'MANIFEST_INVALID',
    ],
    [
      'subject without digest',
      O,
      edit(oci, (d) => {
        d.subject = { mediaType: O, size: 1 };
      }),
      'MANIFEST_INVALID',
    ],
    [
      'data not base64',
      O,
      edit(oci, (d) => {
        d.config.data = '***';
      }),
      'MANIFEST_INVALID',
    ],
    [
      'a key differing only in case',
      S2,
      edit(v2s2, (d) => {
        d.Layers = [];
      }),
      'MANIFEST_INVALID',
    ],
    [
      'a key Go folds (long s)',
      O,
      edit(oci, (d) => {
        d.config['\u017fize'] = 1;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'a descriptor field in two cases',
      L,
      edit(list, (d) => {
        d.manifests[0].Digest = d.manifests[0].digest;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'list manifests missing',
      L,
      edit(list, (d) => {
        delete d.manifests;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'list entry null',
      L,
      edit(list, (d) => {
        d.manifests[0] = null;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'list platform a string',
      L,
      edit(list, (d) => {
        d.manifests[0].platform = 'linux';
      }),
      'MANIFEST_INVALID',
    ],
    [
      'list os.features not strings',
      I,
      edit(index, (d) => {
        d.manifests[0].platform = { os: 'linux', architecture: 'amd64', 'os.features': [{}] };
      }),
      'MANIFEST_INVALID',
    ],
    [
      'index of a different mediaType',
      I,
      edit(index, (d) => {
        d.mediaType = O;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'list schemaVersion 1',
      L,
      edit(list, (d) => {
        d.schemaVersion = 1;
      }),
      'MANIFEST_INVALID',
    ],
    [
      'schema1 history not strings',
      S1,
      () => ({
        schemaVersion: 1,
        fsLayers: [{ blobSum: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }],
        history: [{ v1Compatibility: 5 }],
      }),
      'MANIFEST_INVALID',
    ],
    [
      'schema1 history not JSON',
      S1,
      () => ({
        schemaVersion: 1,
        fsLayers: [{ blobSum: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }],
        history: [{ v1Compatibility: '{' }],
      }),
      'MANIFEST_INVALID',
    ],
    [
      'schema1 bad ID',
      S1,
      () => ({
        schemaVersion: 1,
        fsLayers: [{ blobSum: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }],
        history: [{ v1Compatibility: '{"id":"../x"}' }],
      }),
      'MANIFEST_INVALID',
    ],
    [
      'schema1 length mismatch',
      S1,
      () => ({ schemaVersion: 1, fsLayers: [], history: [{ v1Compatibility: '{}' }] }),
      'MANIFEST_INVALID',
    ],
    [
      'schema1 created not a time',
      S1,
      () => ({
        schemaVersion: 1,
        fsLayers: [{ blobSum: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }],
        history: [{ v1Compatibility: `{"id":"${'a'.repeat(64)}","created":"yesterday"}` }],
      }),
      'MANIFEST_INVALID',
    ],
    [
      'schema1 parent loop',
      S1,
      () => ({
        schemaVersion: 1,
        fsLayers: [
          { blobSum: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
          { blobSum: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
        ],
        history: [
          { v1Compatibility: `{"id":"${'a'.repeat(64)}","parent":"${'b'.repeat(64)}"}` },
          { v1Compatibility: `{"id":"${'b'.repeat(64)}","parent":"${'a'.repeat(64)}"}` },
        ],
      }),
      'MANIFEST_INVALID',
    ],
  ];
  for (const [name, type, make, code] of cases) {
    test(`${name}: ${code}`, () => {
      const bytes = Buffer.from(JSON.stringify(make()));
      const parse = isListMIMEType(type) ? () => parseList(bytes, type) : () => parseManifest(bytes, type);
      assert.throws(parse, (err: unknown) => {
        assert.ok(err instanceof ManifestError, `expected ManifestError, got ${err}`);
        assert.equal(err.code, code, err.message);
        return true;
      });
    });
  }

  test('a manifest over 4 MiB is MANIFEST_TOO_LARGE', () => {
    const bytes = Buffer.alloc(MANIFEST_SIZE_MAX + 1, 0x20);
    assert.throws(() => parseManifest(bytes, S2), { code: 'MANIFEST_TOO_LARGE' });
    assert.throws(() => parseList(bytes, L), { code: 'MANIFEST_TOO_LARGE' });
  });

  test('deeply nested JSON is a typed error', () => {
    const bytes = Buffer.from(
      `{"schemaVersion":2,"mediaType":"${S2}","config":${'['.repeat(100000)}${']'.repeat(100000)}}`,
    );
    assert.throws(() => parseManifest(bytes, S2), ManifestError);
  });

  test('a __proto__ annotation stays data', () => {
    const text = manifestFixture('ociv1.manifest.json')
      .toString()
      .replace('"annotations": {', '"annotations": {"__proto__": "x",');
    const m = parseManifest(Buffer.from(text), O);
    assert.equal(m.kind === 'oci' && Object.hasOwn(m.annotations ?? {}, '__proto__'), true);
  });
});
