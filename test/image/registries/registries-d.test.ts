import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNormalizedNamed } from '../../../src/image/index.ts';
import {
  addRegistriesDFile,
  loadRegistriesD,
  lookasideSignatureUrl,
  type RegistryNamespace,
  signatureStorageFor,
} from '../../../src/image/registries/registries-d.ts';
import { conformancePath } from '../../helpers/conformance.ts';

const fixtures = conformancePath('containers-image/docker/fixtures/registries.d');

describe('registries.d (upstream fixtures)', () => {
  const table: [string, string | undefined, string | undefined][] = [
    ['example.com/ns/repo:tag', 'https://lookaside.example.com', 'https://lookaside.example.com'],
    [
      'docker.io/contoso/x:1',
      'https://lookaside.contoso.com/fordocker',
      'https://lookaside.contoso.com/fordocker',
    ],
    [
      'docker.io/centos/mybetaproduct:v2',
      'http://localhost:9999/mybetaWIP/lookaside',
      'file:///srv/mybetaWIP/lookaside',
    ],
    [
      'docker.io/centos/mybetaproduct:latest',
      'https://lookaside.centos.org/',
      'https://lookaside.centos.org/',
    ],
    [
      'registry.test.example.com:8888/x:1',
      'http://registry.test.example.com:8889/lookaside',
      'https://registry.test.example.com:8889/lookaside/specialAPIserverWhichDoesNotExist',
    ],
    [
      'other.example.org/x:1',
      'file:///mnt/companywide/signatures/for/other/repositories',
      'file:///mnt/companywide/signatures/for/other/repositories',
    ],
  ];
  for (const [image, read, write] of table) {
    it(`${image} reads ${read} and writes ${write}`, async () => {
      const conf = await loadRegistriesD(fixtures);
      const s = signatureStorageFor(conf, parseNormalizedNamed(image));
      assert.equal(s.lookaside, read);
      assert.equal(s.lookasideWrite, write);
    });
  }
  for (const bad of [
    'localhost/invalid/url/test:1',
    'localhost/file/path/test:1',
    'localhost/relative/path/test:1',
  ]) {
    it(`${bad}: a lookaside that is not an absolute URL is REGISTRIES_D_INVALID`, async () => {
      const conf = await loadRegistriesD(fixtures);
      assert.throws(() => signatureStorageFor(conf, parseNormalizedNamed(bad)), {
        code: 'REGISTRIES_D_INVALID',
      });
    });
  }
});

describe('use-sigstore-attachments', () => {
  const build = async (yaml: string) => {
    const acc = {
      defaultDocker: undefined as RegistryNamespace | undefined,
      docker: new Map<string, RegistryNamespace>(),
    };
    await addRegistriesDFile(acc, yaml, 'test.yaml');
    return acc;
  };
  const table: [string, string, boolean][] = [
    ['', 'example.com/a:1', true],
    ['default-docker:\n  use-sigstore-attachments: false\n', 'example.com/a:1', false],
    ['docker:\n  example.com:\n    use-sigstore-attachments: false\n', 'example.com/a:1', false],
    ['docker:\n  example.com:\n    use-sigstore-attachments: false\n', 'other.com/a:1', true],
    [
      'default-docker:\n  use-sigstore-attachments: false\ndocker:\n  example.com/a:\n    use-sigstore-attachments: true\n',
      'example.com/a:1',
      true,
    ],
  ];
  for (const [yaml, image, want] of table) {
    it(`${JSON.stringify(yaml)} for ${image} -> ${want}`, async () => {
      assert.equal(
        signatureStorageFor(await build(yaml), parseNormalizedNamed(image)).useSigstoreAttachments,
        want,
      );
    });
  }
  it('rejects duplicate scopes and unknown keys', async () => {
    const acc = await build('docker:\n  example.com:\n    lookaside: file:///a\n');
    await assert.rejects(
      () => addRegistriesDFile(acc, 'docker:\n  example.com:\n    lookaside: file:///b\n', 'b.yaml'),
      { code: 'REGISTRIES_D_INVALID' },
    );
    await assert.rejects(() => build('docker:\n  example.com:\n    lookasides: file:///a\n'), {
      code: 'REGISTRIES_D_INVALID',
    });
    await assert.rejects(() => build('docker:\n  example.com:\n    use-sigstore-attachments: "yes"\n'), {
      code: 'REGISTRIES_D_INVALID',
    });
  });
});

describe('lookaside URLs (upstream TestLookasideStorageURL)', () => {
  const d = `sha256:${'0123456789abcdef'.repeat(4)}`;
  const table: [string, string, number, string][] = [
    [
      'https://example.com/lookaside',
      'example.com/ns/repo:tag',
      0,
      `https://example.com/lookaside/ns/repo@sha256=${'0123456789abcdef'.repeat(4)}/signature-1`,
    ],
    [
      'file:///var/lib/sigs/',
      'docker.io/library/busybox:latest',
      2,
      `file:///var/lib/sigs/library/busybox@sha256=${'0123456789abcdef'.repeat(4)}/signature-3`,
    ],
  ];
  for (const [base, image, index, want] of table) {
    it(`${base} ${image} #${index + 1}`, () =>
      assert.equal(lookasideSignatureUrl(base, parseNormalizedNamed(image), d, index), want));
  }
});
