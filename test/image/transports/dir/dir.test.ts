import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { digestOf } from '../../../../src/image/digest.ts';
import { signatureFromBlob, signatureToBlob } from '../../../../src/image/transports/dir/signature-blob.ts';
import { dirTransport } from '../../../../src/image/transports/dir/transport.ts';
import type { Signature } from '../../../../src/image/types.ts';
import { conformancePath } from '../../../helpers/conformance.ts';

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'dir-transport-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('dir: references and policy scopes', () => {
  test('identity resolves symlinks; namespaces are the parents without "/"', async () => {
    await mkdir(join(root, 'real'));
    await symlink(join(root, 'real'), join(root, 'link'));
    const ref = dirTransport.parseReference(join(root, 'link', 'img'));
    assert.equal(ref.policyConfigurationIdentity(), join(root, 'real', 'img'));
    const parts = join(root, 'real').split('/').filter(Boolean);
    const expected = parts.map((_, i) => `/${parts.slice(0, parts.length - i).join('/')}`);
    assert.deepEqual(ref.policyConfigurationNamespaces(), expected);
    assert.equal(ref.dockerReference(), undefined);
    assert.equal(ref.stringWithinTransport(), join(root, 'link', 'img'));
  });

  const scopes: [string, boolean][] = [
    ['/a/b/c', true],
    ['/a', true],
    ['relative/path', false],
    ['/', false],
    ['/a/b/', false],
    ['/a//b', false],
    ['/a/./b', false],
    ['/a/../b', false],
  ];
  for (const [scope, ok] of scopes) {
    test(`scope ${JSON.stringify(scope)} is ${ok ? 'accepted' : 'rejected'}`, () => {
      if (ok) dirTransport.validatePolicyConfigurationScope(scope);
      else
        assert.throws(() => dirTransport.validatePolicyConfigurationScope(scope), { code: 'SCOPE_INVALID' });
    });
  }
});

async function writeSmallImage(path: string, signatures: readonly Signature[] = []): Promise<void> {
  const ref = dirTransport.parseReference(path);
  const dest = await ref.newImageDestination({});
  try {
    const blob = Buffer.from('layer');
    await dest.putBlob(
      Readable.from([blob]),
      { digest: digestOf(blob), size: blob.length },
      { isConfig: false },
    );
    await dest.putManifest(Buffer.from('{"schemaVersion":2}'), 'application/vnd.oci.image.manifest.v1+json');
    await dest.putSignatures(signatures);
    await dest.commit();
  } finally {
    await dest.close();
  }
}

describe('dir: destination', () => {
  test('refuses a non-empty directory that is not an image, leaving it untouched', async () => {
    const path = join(root, 'precious');
    await mkdir(path);
    await writeFile(join(path, 'thesis.txt'), 'do not lose');
    await assert.rejects(dirTransport.parseReference(path).newImageDestination({}), {
      code: 'NOT_IMAGE_DIRECTORY',
    });
    assert.deepEqual(await readdir(path), ['thesis.txt']);
  });

  test('refuses a version file it does not know', async () => {
    const path = join(root, 'future');
    await mkdir(path);
    await writeFile(join(path, 'version'), 'Directory Transport Version: 9.0\n');
    await assert.rejects(dirTransport.parseReference(path).newImageDestination({}), {
      code: 'UNSUPPORTED_VERSION',
    });
  });

  test('replaces an existing dir: image and writes version 1.1', async () => {
    const path = join(root, 'img');
    await writeSmallImage(path);
    await writeFile(join(path, 'stale'), 'x');
    await writeSmallImage(path);
    assert.deepEqual(
      (await readdir(path)).sort(),
      [digestOf('layer').slice(7), 'manifest.json', 'version'].sort(),
    );
    assert.equal(await readFile(join(path, 'version'), 'utf8'), 'Directory Transport Version: 1.1\n');
  });

  test('an uncommitted destination leaves the old image and no temp files', async () => {
    const path = join(root, 'keep');
    await writeSmallImage(path);
    const before = await readdir(root);
    const dest = await dirTransport.parseReference(path).newImageDestination({});
    const blob = Buffer.from('other');
    await dest.putBlob(Readable.from([blob]), { size: -1 }, { isConfig: false });
    await dest.close();
    assert.deepEqual(await readdir(root), before);
    assert.equal(await readFile(join(path, 'manifest.json'), 'utf8'), '{"schemaVersion":2}');
  });

  test('a blob whose bytes do not match its digest fails with DIGEST_MISMATCH', async () => {
    const dest = await dirTransport.parseReference(join(root, 'bad')).newImageDestination({});
    try {
      await assert.rejects(
        dest.putBlob(
          Readable.from([Buffer.from('evil')]),
          { digest: digestOf('good'), size: 4 },
          { isConfig: false },
        ),
        { code: 'DIGEST_MISMATCH' },
      );
    } finally {
      await dest.close();
    }
  });
});

describe('dir: signatures', () => {
  test('upstream signature files (simple signing, sigstore) round-trip byte for byte', async () => {
    for (const name of ['dir-img-valid/signature-1', 'dir-img-cosign-valid/signature-1']) {
      const blob = await readFile(conformancePath(`containers-image/signature/fixtures/${name}`));
      const sig = signatureFromBlob(blob);
      assert.equal(sig.format, name.includes('cosign') ? 'sigstore-json' : 'simple-signing');
      assert.deepEqual(Buffer.from(signatureToBlob(sig)), blob);
    }
  });

  test('signatures written are read back in order, until the first missing file', async () => {
    const sigs: Signature[] = [
      { format: 'simple-signing', blob: Buffer.from([0xa3, 1, 2, 3]) },
      {
        format: 'sigstore-json',
        mimeType: 'application/x',
        payload: Buffer.from('p'),
        annotations: { b: '2', a: '1' },
      },
    ];
    const path = join(root, 'signed');
    await writeSmallImage(path, sigs);
    const src = await dirTransport.parseReference(path).newImageSource({});
    try {
      const got = await src.getSignatures();
      assert.equal(got.length, 2);
      assert.deepEqual(Buffer.from((got[0] as { blob: Uint8Array }).blob), Buffer.from([0xa3, 1, 2, 3]));
      assert.equal(got[1]?.format, 'sigstore-json');
    } finally {
      await src.close();
    }
  });

  test('a signature file in an unknown format fails with CORRUPT_IMAGE', () => {
    assert.throws(() => signatureFromBlob(Buffer.from([0x00, 0x66, 0x6f, 0x6f, 0x0a])), {
      code: 'CORRUPT_IMAGE',
    });
    assert.throws(() => signatureFromBlob(Buffer.from('plain text')), { code: 'CORRUPT_IMAGE' });
  });

  test('a missing blob fails with BLOB_NOT_FOUND', async () => {
    const src = await dirTransport.parseReference(join(root, 'img')).newImageSource({});
    try {
      await assert.rejects(src.getBlob({ digest: digestOf('absent'), size: -1 }), { code: 'BLOB_NOT_FOUND' });
    } finally {
      await src.close();
    }
  });
});
