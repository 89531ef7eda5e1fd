import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  convertManifest,
  type Digest,
  goTime,
  type ImageInspectInfo,
  imageInspectInfo,
  manifestDigest,
  OCI_MANIFEST_MEDIA_TYPE,
  parseManifest,
  skopeoInspectOutput,
} from '../../../src/image/index.ts';
import { manifestFixture, readFixture } from './fixtures.ts';
import {
  blob,
  gzipLayer,
  readDirBlob,
  readDirManifest,
  run,
  schema1WithNewLayers,
  schema2Manifest,
  scratch,
  skopeoCopy,
  writeDirImage,
} from './images.ts';

const imageFixture = (name: string) => readFixture(`internal/image/fixtures/${name}`);

const httpdEnv = [
  'PATH=/usr/local/apache2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'HTTPD_PREFIX=/usr/local/apache2',
  'HTTPD_VERSION=2.4.23',
  'HTTPD_SHA1=5101be34ac4a509b245adb70a56690a84fcc4e7f',
  'HTTPD_BZ2_URL=https://www.apache.org/dyn/closer.cgi?action=download&filename=httpd/httpd-2.4.23.tar.bz2',
  'HTTPD_ASC_URL=https://www.apache.org/dist/httpd/httpd-2.4.23.tar.bz2.asc',
];
const httpdLayers = [
  ['sha256:6a5a5368e0c2d3e5909184fa28ddfd56072e7ff3ee9a945876f7eee5896ef5bb', 51354364],
  ['sha256:1bbf5d58d24c47512e234a5623474acf65ae00d4d1414272a893204f44cc680c', 150],
  ['sha256:8f5dc8a4b12c307ac84de90cdd9a7f3915d1be04c9388868ca118831099c67a9', 11739507],
  ['sha256:bbd6b22eb11afce63cc76f6bc41042d99f10d6024c96b655dafba930b8d25909', 8841833],
  ['sha256:960e52ecf8200cbd84e70eb2ad8678f4367e50d14357021872c10fa3fc5935fa', 291],
] as const;

function httpd(mimeType: string, annotations: (Record<string, string> | null)[]): ImageInspectInfo {
  return {
    Tag: '',
    Created: '2016-09-23T23:20:45.78976459Z',
    DockerVersion: '1.12.1',
    Labels: {},
    Architecture: 'amd64',
    Variant: '',
    Os: 'linux',
    Layers: httpdLayers.map(([d]) => d),
    LayersData: httpdLayers.map(([d, size], i) => ({
      MIMEType: mimeType,
      Digest: d as Digest,
      Size: size,
      Annotations: annotations[i] ?? null,
    })),
    Env: httpdEnv,
    Author: '',
  };
}

describe('imageInspectInfo (upstream Test*Inspect)', () => {
  test('schema2 with its config', () => {
    assert.deepEqual(
      imageInspectInfo(parseManifest(imageFixture('schema2.json')), imageFixture('schema2-config.json')),
      httpd('application/vnd.docker.image.rootfs.diff.tar.gzip', []),
    );
  });

  for (const [manifest, config] of [
    ['oci1.json', 'oci1-config.json'],
    ['oci1-extra-config-fields.json', 'oci1-config-extra-fields.json'],
  ]) {
    test(`OCI ${manifest} with ${config}`, () => {
      assert.deepEqual(
        imageInspectInfo(parseManifest(imageFixture(manifest!)), imageFixture(config!)),
        httpd('application/vnd.oci.image.layer.v1.tar+gzip', [
          null,
          null,
          null,
          { 'test-annotation-2': 'two' },
        ]),
      );
    });
  }

  test('schema1 reads its newest v1Compatibility', () => {
    const info = imageInspectInfo(parseManifest(imageFixture('schema1.json')));
    assert.equal(info.Tag, 'latest');
    assert.equal(info.Created, '2018-01-25T00:37:48.268558Z');
    assert.equal(info.DockerVersion, '1.12.6');
    assert.equal(Object.keys(info.Labels ?? {}).length, 22);
    assert.equal(info.Labels?.['vcs-ref'], '9b31243b7b448eb2fc3b6e2c96935b948f806e98');
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Os, 'linux');
    assert.deepEqual(info.Layers, [
      'sha256:9cadd93b16ff2a0c51ac967ea2abfadfac50cfa3af8b5bf983d89b8f8647f3e4',
      'sha256:4aa565ad8b7a87248163ce7dba1dd3894821aac97e846b932ff6b8ef9a8a508a',
      'sha256:f576d102e09b9eef0e305aaef705d2d43a11bebc3fd5810a761624bd5e11997e',
      'sha256:9e92df2aea7dc0baf5f1f8d509678d6a6306de27ad06513f8e218371938c07a6',
      'sha256:62e48e39dc5b30b75a97f05bccc66efbae6058b860ee20a5c9a184b9d5e25788',
      'sha256:e623934bca8d1a74f51014256445937714481e49343a31bda2bc5f534748184d',
    ]);
    assert.deepEqual(
      info.LayersData.map((l) => [l.MIMEType, l.Size, l.Annotations]),
      info.Layers.map(() => ['', -1, null]),
    );
    assert.equal(info.Env?.length, 6);
    assert.equal(info.Author, '');
  });

  const failures: [string, () => unknown, string][] = [
    [
      'an OCI artifact',
      () => imageInspectInfo(parseManifest(imageFixture('oci1-artifact.json')), Buffer.from('')),
      'MANIFEST_NOT_AN_IMAGE',
    ],
    ['no config blob', () => imageInspectInfo(parseManifest(imageFixture('oci1.json'))), 'CONFIG_INVALID'],
    [
      'the wrong config blob',
      () =>
        imageInspectInfo(
          parseManifest(imageFixture('oci1.json')),
          imageFixture('schema1-to-oci1-config.json'),
        ),
      'CONFIG_DIGEST_MISMATCH',
    ],
  ];
  for (const [name, f, code] of failures) {
    test(`${name}: ${code}`, () => {
      assert.throws(f, { code });
    });
  }

  const badConfigs: [string, string][] = [
    ['not JSON', 'invalid JSON'],
    ['an array', '[]'],
    ['Env not strings', '{"config":{"Env":[1]}}'],
    ['Labels an array', '{"config":{"Labels":[]}}'],
    ['created not a time', '{"created":"noon"}'],
    ['created on February 30th', '{"created":"2016-02-30T10:00:00Z"}'],
    ['created with a leap second', '{"created":"2016-12-31T23:59:60Z"}'],
    ['created with a lowercase t', '{"created":"2016-09-23t23:20:45Z"}'],
    ['created with an offset hour 24', '{"created":"2016-09-23T23:20:45+24:00"}'],
    ['architecture a number', '{"architecture":64}'],
  ];
  for (const [name, config] of badConfigs) {
    test(`a config that is ${name}: CONFIG_INVALID`, () => {
      const bytes = Buffer.from(config);
      const doc = JSON.parse(manifestFixture('v2s2.manifest.json').toString());
      doc.config = { ...doc.config, digest: blob(bytes).digest, size: bytes.length };
      const m = parseManifest(Buffer.from(JSON.stringify(doc)));
      assert.throws(() => imageInspectInfo(m, bytes), { code: 'CONFIG_INVALID' });
    });
  }

  test('a schema2 config without created reports Go zero time, an OCI one null', () => {
    const bytes = Buffer.from('{"architecture":"arm64","os":"linux","variant":"v8"}');
    for (const [file, created] of [
      ['v2s2.manifest.json', '0001-01-01T00:00:00Z'],
      ['ociv1.manifest.json', null],
    ] as const) {
      const doc = JSON.parse(manifestFixture(file).toString());
      doc.config = { ...doc.config, digest: blob(bytes).digest, size: bytes.length };
      const info = imageInspectInfo(parseManifest(Buffer.from(JSON.stringify(doc))), bytes);
      assert.equal(info.Created, created);
      assert.equal(info.Variant, 'v8');
      assert.equal(info.Labels, null);
      assert.equal(info.Env, null);
    }
  });
});

describe('skopeoInspectOutput agrees with skopeo inspect', () => {
  async function skopeoInspect(dir: string): Promise<Record<string, unknown>> {
    const { stdout } = await run('skopeo', ['inspect', `dir:${dir}`]);
    return JSON.parse(stdout);
  }

  // skopeo 1.9.3 predates LayersData; every field it prints must match ours.
  function assertSameAsSkopeo(ours: Record<string, unknown>, theirs: Record<string, unknown>): void {
    assert.deepEqual(
      Object.keys(ours).filter((k) => k !== 'LayersData'),
      Object.keys(theirs),
    );
    for (const key of Object.keys(theirs)) assert.deepEqual(ours[key], theirs[key], key);
  }

  test('schema2, the same image as OCI, and a schema1 image', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const layers = [gzipLayer(300), gzipLayer(400)];
      const config = blob(imageFixture('schema2-config.json'));
      const manifest = schema2Manifest(layers, config);
      const s2 = await writeDirImage(join(dir, 's2'), manifest, [...layers, config]);
      const m = parseManifest(manifest);
      assertSameAsSkopeo(
        skopeoInspectOutput(
          { digest: manifestDigest(manifest), repoTags: [] },
          imageInspectInfo(m, config.bytes),
        ),
        await skopeoInspect(s2),
      );

      await skopeoCopy(s2, join(dir, 'oci'), 'oci');
      const ociBytes = await readDirManifest(join(dir, 'oci'));
      const oci = parseManifest(ociBytes);
      assert.equal(oci.kind, 'oci');
      const ociConfig = await readDirBlob(join(dir, 'oci'), oci.kind === 'oci' ? oci.config.digest : '');
      assertSameAsSkopeo(
        skopeoInspectOutput(
          { digest: manifestDigest(ociBytes), repoTags: [] },
          imageInspectInfo(oci, ociConfig),
        ),
        await skopeoInspect(join(dir, 'oci')),
      );
      assert.equal(
        convertManifest(m, OCI_MANIFEST_MEDIA_TYPE, { config: config.bytes }).manifest.kind,
        'oci',
      );

      const { manifest: s1bytes, layers: s1layers } = schema1WithNewLayers(imageFixture('schema1.json'));
      const s1 = await writeDirImage(join(dir, 's1'), s1bytes, s1layers);
      assertSameAsSkopeo(
        skopeoInspectOutput(
          { digest: manifestDigest(s1bytes), repoTags: [] },
          imageInspectInfo(parseManifest(s1bytes)),
        ),
        await skopeoInspect(s1),
      );
    } finally {
      await cleanup();
    }
  });

  test('Name is printed only when there is one', () => {
    const info = imageInspectInfo(
      parseManifest(imageFixture('schema2.json')),
      imageFixture('schema2-config.json'),
    );
    const digest = 'sha256:0000000000000000000000000000000000000000000000000000000000000000' as Digest;
    assert.equal(Object.keys(skopeoInspectOutput({ digest, repoTags: [] }, info))[0], 'Digest');
    assert.deepEqual(
      Object.keys(skopeoInspectOutput({ name: 'docker.io/library/x', digest, repoTags: ['a'] }, info)).slice(
        0,
        3,
      ),
      ['Name', 'Digest', 'RepoTags'],
    );
  });
});

describe('goTime renders times as Go marshals them', () => {
  const cases: [string, string][] = [
    ['2016-09-23T23:20:45.78976459Z', '2016-09-23T23:20:45.78976459Z'],
    ['2016-09-23T23:20:45.000000000Z', '2016-09-23T23:20:45Z'],
    ['2016-09-23T23:20:45.120Z', '2016-09-23T23:20:45.12Z'],
    ['2016-09-23T23:20:45+00:00', '2016-09-23T23:20:45Z'],
    ['2016-09-23T23:20:45.5-07:00', '2016-09-23T23:20:45.5-07:00'],
    ['2016-09-23T23:20:45.1234567891Z', '2016-09-23T23:20:45.123456789Z'],
  ];
  for (const [input, expected] of cases) {
    test(`${input} -> ${expected}`, () => {
      assert.equal(goTime(input), expected);
    });
  }
});
