import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  chooseInstance,
  guessMIMEType,
  hostPlatform,
  type ManifestList,
  parseList,
  type WantedPlatform,
  wantedPlatforms,
} from '../../../src/image/index.ts';
import { internalFixture } from './fixtures.ts';

const host: WantedPlatform = { os: 'linux', architecture: 'amd64', variant: '' };

describe('wantedPlatforms (upstream TestWantedPlatforms)', () => {
  const cases: [
    string,
    { os: string; architecture: string; variant?: string },
    [string, string, string][],
  ][] = [
    ['amd64 has no variants', { architecture: 'amd64', os: 'linux' }, [['linux', 'amd64', '']]],
    [
      'arm v6',
      { architecture: 'arm', os: 'linux', variant: 'v6' },
      [
        ['linux', 'arm', 'v6'],
        ['linux', 'arm', 'v5'],
        ['linux', 'arm', ''],
      ],
    ],
    [
      'arm without variant',
      { architecture: 'arm', os: 'linux' },
      [
        ['linux', 'arm', ''],
        ['linux', 'arm', 'v8'],
        ['linux', 'arm', 'v7'],
        ['linux', 'arm', 'v6'],
        ['linux', 'arm', 'v5'],
      ],
    ],
    [
      'arm64 has a base variant',
      { architecture: 'arm64', os: 'linux' },
      [
        ['linux', 'arm64', ''],
        ['linux', 'arm64', 'v8'],
      ],
    ],
    [
      'unrecognized data',
      { architecture: 'armel', os: 'freeBSD', variant: 'custom' },
      [
        ['freeBSD', 'armel', 'custom'],
        ['freeBSD', 'armel', ''],
      ],
    ],
    ['x86_64 is amd64', { architecture: 'x86_64', os: 'linux' }, [['linux', 'amd64', '']]],
    [
      'aarch64 is arm64',
      { architecture: 'aarch64', os: 'linux' },
      [
        ['linux', 'arm64', ''],
        ['linux', 'arm64', 'v8'],
      ],
    ],
  ];
  for (const [name, choice, expected] of cases) {
    test(name, () => {
      assert.deepEqual(
        wantedPlatforms(choice, host).map((p) => [p.os, p.architecture, p.variant]),
        expected,
      );
    });
  }

  test('unset fields come from the host, with its variant only when the architecture is not chosen', () => {
    const armHost: WantedPlatform = { os: 'linux', architecture: 'arm', variant: 'v7' };
    assert.deepEqual(
      wantedPlatforms({}, armHost).map((p) => p.variant),
      ['v7', 'v6', 'v5', ''],
    );
    assert.deepEqual(
      wantedPlatforms({ architecture: 'arm' }, armHost).map((p) => p.variant),
      ['', 'v8', 'v7', 'v6', 'v5'],
    );
    assert.equal(wantedPlatforms({ os: 'windows' }, armHost)[0]?.os, 'windows');
  });

  test('the default host is this machine in Go names', () => {
    const h = hostPlatform();
    assert.ok(!['x64', 'ia32', 'win32'].includes(h.architecture) && h.os !== 'win32');
    assert.deepEqual(wantedPlatforms()[0], h);
  });
});

function list(file: string): ManifestList {
  const bytes = internalFixture(file);
  return parseList(bytes, guessMIMEType(bytes));
}

describe('chooseInstance (upstream TestChooseInstance, TestOCI1IndexChooseInstanceByCompression)', () => {
  type Match = [string, string, string, boolean?];
  const cases: [string, Match[]][] = [
    [
      'schema2list.json',
      [
        ['amd64', '', 'sha256:030fcb92e1487b18c974784dcc110a93147c9fc402188370fbfd17efabffc6af'],
        ['s390x', '', 'sha256:e5aa1b0a24620228b75382997a0977f609b3ca3a95533dafdef84c74cc8df642'],
        ['arm', 'v7', 'sha256:b5dbad4bdb4444d919294afe49a095c23e86782f98cdf0aa286198ddb814b50b'],
        ['arm64', '', 'sha256:dc472a59fb006797aa2a6bfb54cc9c57959bb0a6d11fadaa608df8c16dea39cf'],
      ],
    ],
    [
      'schema2list-variants.json',
      [
        ['amd64', '', 'sha256:59eec8837a4d942cc19a52b8c09ea75121acc38114a2c68b98983ce9356b8610'],
        ['arm', 'v7', 'sha256:f365626a556e58189fc21d099fc64603db0f440bff07f77c740989515c544a39'],
        ['arm', 'v6', 'sha256:f365626a556e58189fc21d099fc64603db0f440bff07f77c740989515c544a39'],
        ['arm', 'v5', 'sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53'],
        ['arm', '', 'sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53'],
        [
          'arm',
          'unrecognized-present',
          'sha256:bcf9771c0b505e68c65440474179592ffdfa98790eb54ffbf129969c5e429990',
        ],
        [
          'arm',
          'unrecognized-not-present',
          'sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53',
        ],
      ],
    ],
    [
      'oci1index.json',
      [
        ['amd64', '', 'sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270'],
        ['ppc64le', '', 'sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f'],
      ],
    ],
    [
      'oci1.index.zstd-selection.json',
      [
        ['amd64', '', `sha256:${'b'.repeat(64)}`, false],
        ['arm64', '', `sha256:${'c'.repeat(64)}`, false],
        ['s390x', '', `sha256:${'e'.repeat(64)}`, false],
        ['amd64', '', `sha256:${'a'.repeat(64)}`, true],
        ['arm64', '', `sha256:${'c'.repeat(64)}`, true],
        ['s390x', '', `sha256:${'e'.repeat(64)}`, true],
      ],
    ],
    [
      'ocilist-variants.json',
      [
        ['amd64', '', 'sha256:59eec8837a4d942cc19a52b8c09ea75121acc38114a2c68b98983ce9356b8610', false],
        ['arm', 'v7', `sha256:${'e'.repeat(64)}`, false],
        ['arm', 'v6', 'sha256:f365626a556e58189fc21d099fc64603db0f440bff07f77c740989515c544a39', false],
        ['arm', 'v5', 'sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53', false],
        ['arm', '', 'sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53', false],
        [
          'arm',
          'unrecognized-present',
          'sha256:bcf9771c0b505e68c65440474179592ffdfa98790eb54ffbf129969c5e429990',
          false,
        ],
        [
          'arm',
          'unrecognized-not-present',
          'sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53',
          false,
        ],
        ['amd64', '', 'sha256:59eec8837a4d942cc19a52b8c09ea75121acc38114a2c68b98983ce9356b8610', true],
        ['arm', 'v7', `sha256:${'e'.repeat(64)}`, true],
        ['arm', 'v6', `sha256:${'d'.repeat(64)}`, true],
        ['arm', 'v5', 'sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53', true],
        ['arm', '', 'sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53', true],
        [
          'arm',
          'unrecognized-present',
          'sha256:bcf9771c0b505e68c65440474179592ffdfa98790eb54ffbf129969c5e429990',
          true,
        ],
        [
          'arm',
          'unrecognized-not-present',
          'sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53',
          true,
        ],
      ],
    ],
    [
      'oci1.index.zstd-selection2.json',
      [
        ['amd64', '', `sha256:${'c'.repeat(64)}`, false],
        ['amd64', '', `sha256:${'a'.repeat(64)}`, true],
        ['arm64', '', 'sha256:6dc14a60d2ba724646cfbf5fccbb9a618a5978a64a352e060b17caf5e005da9d', true],
        ['arm64', '', 'sha256:1c98002b30a71b08ab175915ce7c8fb8da9e9b502ae082d6f0c572bac9dee324', false],
        [
          'matchesImageWithNoPlatform',
          '',
          'sha256:f2f5f52a2cf2c51d4cac6df0545f751c0adc3f3427eb47c59fcb32894503e18f',
          false,
        ],
        [
          'matchesImageWithNoPlatform',
          '',
          'sha256:c76757bb6006babdd8464dbf2f1157fdfa6fead0bc6f84f15816a32d6f68f706',
          true,
        ],
      ],
    ],
  ];
  for (const [file, matches] of cases) {
    for (const [architecture, variant, digest, preferGzip] of matches) {
      test(`${file} ${architecture}/${variant || '-'}${preferGzip === undefined ? '' : ` preferGzip=${preferGzip}`}`, () => {
        const chosen = chooseInstance(list(file), {
          platform: { os: 'linux', architecture, variant },
          preferGzip,
          host,
        });
        assert.equal(chosen.digest, digest);
      });
    }
  }

  for (const file of [
    'schema2list.json',
    'schema2list-variants.json',
    'oci1index.json',
    'oci1.index.zstd-selection.json',
    'ocilist-variants.json',
  ]) {
    test(`${file} has nothing for an unknown architecture`, () => {
      assert.throws(
        () => chooseInstance(list(file), { platform: { os: 'linux', architecture: 'unmatched' }, host }),
        {
          code: 'NO_MATCHING_PLATFORM',
        },
      );
    });
  }

  test('the error lists what the list offers', () => {
    assert.throws(
      () =>
        chooseInstance(list('schema2list.json'), { platform: { os: 'linux', architecture: 'mips64' }, host }),
      (err: Error) =>
        /linux\/amd64/.test(err.message) && /linux\/arm\/v6/.test(err.message) && /mips64/.test(err.message),
    );
  });

  test('an image architecture written x86_64 matches amd64', () => {
    const l: ManifestList = {
      kind: 'docker-list',
      mimeType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      instances: [
        {
          digest: `sha256:${'1'.repeat(64)}` as never,
          size: 1,
          mediaType: 'x',
          platform: { os: 'linux', architecture: 'x86_64' },
        },
      ],
    };
    assert.equal(chooseInstance(l, { host }).digest, `sha256:${'1'.repeat(64)}`);
  });

  test('the host platform is the default', () => {
    const armHost: WantedPlatform = { os: 'linux', architecture: 'arm', variant: 'v7' };
    assert.equal(
      chooseInstance(list('schema2list.json'), { host: armHost }).digest,
      'sha256:b5dbad4bdb4444d919294afe49a095c23e86782f98cdf0aa286198ddb814b50b',
    );
  });
});
