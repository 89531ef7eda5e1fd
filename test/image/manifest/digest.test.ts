import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  DOCKER_V2_LIST_MEDIA_TYPE,
  DOCKER_V2_SCHEMA1_MEDIA_TYPE,
  DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  guessMIMEType,
  ManifestError,
  manifestDigest,
  matchesDigest,
  OCI_INDEX_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  schema1SignedPayload,
} from '../../../src/image/index.ts';
import { imageFixtures, internalFixture, manifestFixture, readFixture } from './fixtures.ts';

const run = promisify(execFile);

describe('guessMIMEType (upstream TestGuessMIMEType)', () => {
  const cases: [string, string][] = [
    ['v2s2.manifest.json', DOCKER_V2_SCHEMA2_MEDIA_TYPE],
    ['v2list.manifest.json', DOCKER_V2_LIST_MEDIA_TYPE],
    ['v2s1.manifest.json', DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE],
    ['v2s1-unsigned.manifest.json', DOCKER_V2_SCHEMA1_MEDIA_TYPE],
    ['v2s1-invalid-signatures.manifest.json', DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE],
    ['v2s2nomime.manifest.json', DOCKER_V2_SCHEMA2_MEDIA_TYPE],
    ['unknown-version.manifest.json', ''],
    ['non-json.manifest.json', ''],
    ['ociv1.manifest.json', OCI_MANIFEST_MEDIA_TYPE],
    ['ociv1.artifact.json', OCI_MANIFEST_MEDIA_TYPE],
    ['ociv1.image.index.json', OCI_INDEX_MEDIA_TYPE],
    ['ociv1nomime.manifest.json', OCI_MANIFEST_MEDIA_TYPE],
    ['ociv1nomime.artifact.json', OCI_MANIFEST_MEDIA_TYPE],
    ['ociv1nomime.image.index.json', OCI_INDEX_MEDIA_TYPE],
  ];
  for (const [file, expected] of cases) {
    test(`${file} is ${expected || 'unrecognized'}`, () => {
      assert.equal(guessMIMEType(manifestFixture(file)), expected);
      assert.equal(guessMIMEType(internalFixture(file)), expected);
    });
  }

  const inline: [string, string, string][] = [
    ['null', 'null', ''],
    ['an array', '[1,2]', ''],
    ['a number mediaType', '{"mediaType":1,"schemaVersion":2}', ''],
    ['a fractional schemaVersion', '{"schemaVersion":1.5}', ''],
    [
      'schemaVersion 1 with null signatures',
      '{"schemaVersion":1,"signatures":null}',
      DOCKER_V2_SCHEMA1_MEDIA_TYPE,
    ],
    [
      'schemaVersion 1 with empty signatures',
      '{"schemaVersion":1,"signatures":[]}',
      DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE,
    ],
    ['a non-object config', '{"schemaVersion":2,"config":"x"}', ''],
    [
      'a docker config type',
      '{"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.container.image.v1+json"}}',
      DOCKER_V2_SCHEMA2_MEDIA_TYPE,
    ],
    ['manifests of the wrong shape', '{"schemaVersion":2,"manifests":[{"size":"1"}]}', ''],
    ['an empty manifests array', '{"schemaVersion":2,"manifests":[]}', OCI_MANIFEST_MEDIA_TYPE],
    ['schemaVersion 3', '{"schemaVersion":3}', ''],
    ['a byte order mark', '\uFEFF{"schemaVersion":1}', ''],
  ];
  for (const [name, json, expected] of inline) {
    test(`${name} is ${expected || 'unrecognized'}`, () => {
      assert.equal(guessMIMEType(Buffer.from(json)), expected);
    });
  }
});

describe('manifestDigest (upstream TestDigest, TestDigestWithAlgorithm)', () => {
  const cases: { file: string; sha256?: string; sha512?: string; code?: string }[] = [
    {
      file: 'v2s2.manifest.json',
      sha256: 'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55',
      sha512:
        'sha512:50763a72163eef344fc0b58ec5a2676ceeddfa46b547475013778f3de5c0c1a75e18c947db36483e4622c1d46a908aa26649e6b0ac22514b8100889f74ed2b8c',
    },
    {
      file: 'v2s1.manifest.json',
      sha256: 'sha256:7364fea9d84ee548ab67d4c46c6006289800c98de3fbf8c0a97138dfcc23f000',
      sha512:
        'sha512:987d6df9aca32adc296bd0698cc7407f12605b4d5e8f0de2ca5d0c43f22d894082e96fb0a02c0f659db3bb8314912dd0a1fcb5cb421c04cd5cb468ad3829d9f7',
    },
    {
      file: 'v2s1-unsigned.manifest.json',
      sha256: 'sha256:7364fea9d84ee548ab67d4c46c6006289800c98de3fbf8c0a97138dfcc23f000',
      sha512:
        'sha512:987d6df9aca32adc296bd0698cc7407f12605b4d5e8f0de2ca5d0c43f22d894082e96fb0a02c0f659db3bb8314912dd0a1fcb5cb421c04cd5cb468ad3829d9f7',
    },
    {
      file: '',
      sha256: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      sha512:
        'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
    },
    { file: 'v2s1-invalid-signatures.manifest.json', code: 'MANIFEST_SIGNATURE_INVALID' },
  ];
  for (const c of cases) {
    test(`${c.file || 'empty input'}`, () => {
      const bytes = c.file === '' ? Buffer.alloc(0) : manifestFixture(c.file);
      if (c.code !== undefined) {
        assert.throws(() => manifestDigest(bytes), { code: c.code });
        assert.throws(() => manifestDigest(bytes, 'sha512'), { code: c.code });
        return;
      }
      assert.equal(manifestDigest(bytes), c.sha256);
      assert.equal(manifestDigest(bytes, 'sha512'), c.sha512);
    });
  }

  test('signature/fixtures/image.manifest.json has the digest its signatures sign', () => {
    assert.equal(
      manifestDigest(readFixture('signature/fixtures/image.manifest.json')),
      'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55',
    );
  });

  test('signature/fixtures/v2s1-invalid-signatures.manifest.json cannot be digested', () => {
    assert.throws(
      () => manifestDigest(readFixture('signature/fixtures/v2s1-invalid-signatures.manifest.json')),
      {
        code: 'MANIFEST_SIGNATURE_INVALID',
      },
    );
  });
});

describe('matchesDigest (upstream TestMatchesDigest)', () => {
  const s2 = 'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55';
  const s1 = 'sha256:7364fea9d84ee548ab67d4c46c6006289800c98de3fbf8c0a97138dfcc23f000';
  const cases: [string, string, boolean][] = [
    ['v2s2.manifest.json', s2, true],
    ['v2s1.manifest.json', s1, true],
    ['v2s2.manifest.json', s1, false],
    ['v2s1.manifest.json', s2, false],
    ['v2s2.manifest.json', 'md5:2872f31c5c1f62a694fbd20c1e85257c', false],
    ['v2s2.manifest.json', `${s2}abc`, false],
    ['v2s2.manifest.json', s2.slice(0, 20), false],
    ['v2s2.manifest.json', '', false],
  ];
  for (const [file, expected, result] of cases) {
    test(`${file} against ${expected || '""'} is ${result}`, () => {
      assert.equal(matchesDigest(manifestFixture(file), expected), result);
    });
  }
  test('an unstrippable schema1 signature fails even with the raw bytes digest', () => {
    const bytes = manifestFixture('v2s1-invalid-signatures.manifest.json');
    assert.throws(
      () => matchesDigest(bytes, 'sha256:dc5bc5be2ec1f465009f53b51d16bcc2a621e45c3fa0ac986dce9fcd88531ef5'),
      ManifestError,
    );
  });
  test('the empty input matches the empty digest', () => {
    assert.equal(
      matchesDigest(
        Buffer.alloc(0),
        'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      ),
      true,
    );
  });
});

describe('schema1 JWS signature stripping', () => {
  const valid = manifestFixture('v2s1.manifest.json');
  const protectedOf = (header: object) => Buffer.from(JSON.stringify(header)).toString('base64url');
  const withSignatures = (signatures: unknown) => {
    const doc = JSON.parse(valid.toString());
    doc.signatures = signatures;
    return Buffer.from(JSON.stringify(doc, null, 3));
  };
  const cases: [string, unknown][] = [
    ['a non-object signature', [1]],
    ['a missing header', [{ protected: protectedOf({ formatLength: 10, formatTail: 'fQ' }) }]],
    ['a protected header that is not base64url', [{ header: {}, protected: '!!!' }]],
    [
      'a protected header that is not JSON',
      [{ header: {}, protected: Buffer.from('nope').toString('base64url') }],
    ],
    ['no formatLength', [{ header: {}, protected: protectedOf({ formatTail: 'fQ' }) }]],
    ['no formatTail', [{ header: {}, protected: protectedOf({ formatLength: 10 }) }]],
    [
      'a formatLength past the end',
      [{ header: {}, protected: protectedOf({ formatLength: 1e9, formatTail: 'fQ' }) }],
    ],
    [
      'a negative formatLength',
      [{ header: {}, protected: protectedOf({ formatLength: -5, formatTail: 'fQ' }) }],
    ],
    [
      'conflicting format lengths',
      [
        { header: {}, protected: protectedOf({ formatLength: 10, formatTail: 'fQ' }) },
        { header: {}, protected: protectedOf({ formatLength: 11, formatTail: 'fQ' }) },
      ],
    ],
    [
      'conflicting format tails',
      [
        { header: {}, protected: protectedOf({ formatLength: 10, formatTail: 'fQ' }) },
        { header: {}, protected: protectedOf({ formatLength: 10, formatTail: 'Cn0' }) },
      ],
    ],
    [
      'an invalid jwk',
      [
        {
          header: { jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } },
          protected: protectedOf({ formatLength: 10, formatTail: 'fQ' }),
        },
      ],
    ],
    [
      'a jwk of an unknown type',
      [
        {
          header: { jwk: { kty: 'oct', k: 'AA' } },
          protected: protectedOf({ formatLength: 10, formatTail: 'fQ' }),
        },
      ],
    ],
  ];
  for (const [name, signatures] of cases) {
    test(`${name} is MANIFEST_SIGNATURE_INVALID`, () => {
      assert.throws(() => manifestDigest(withSignatures(signatures)), { code: 'MANIFEST_SIGNATURE_INVALID' });
    });
  }

  test('a key ID that does not match its key is rejected', () => {
    const doc = JSON.parse(valid.toString());
    doc.signatures[0].header.jwk.kid = 'AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA';
    assert.throws(() => schema1SignedPayload(Buffer.from(JSON.stringify(doc))), {
      code: 'MANIFEST_SIGNATURE_INVALID',
    });
  });

  test('the payload is the unsigned manifest', () => {
    assert.deepEqual(
      Buffer.from(schema1SignedPayload(valid)),
      manifestFixture('v2s1-unsigned.manifest.json'),
    );
  });
});

describe('manifestDigest agrees with skopeo manifest-digest', () => {
  const files = [
    ...readdirSync(join(imageFixtures, 'manifest/fixtures')).map((f) => `manifest/fixtures/${f}`),
    ...readdirSync(join(imageFixtures, 'internal/manifest/testdata')).map(
      (f) => `internal/manifest/testdata/${f}`,
    ),
    'signature/fixtures/image.manifest.json',
    'signature/fixtures/dir-img-valid/manifest.json',
    'signature/fixtures/dir-img-cosign-pki-valid/manifest.json',
    'signature/fixtures/dir-img-manifest-digest-error/manifest.json',
  ];
  for (const file of files) {
    test(file, async () => {
      const path = join(imageFixtures, file);
      let ours: string;
      try {
        ours = manifestDigest(readFixture(file));
      } catch (err) {
        await assert.rejects(
          run('skopeo', ['manifest-digest', path]),
          `skopeo accepts ${file} but we threw ${err}`,
        );
        return;
      }
      const { stdout } = await run('skopeo', ['manifest-digest', path]);
      assert.equal(ours, stdout.trim());
    });
  }
});
