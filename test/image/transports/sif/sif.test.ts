import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parseDefFile } from '../../../../src/image/transports/sif/sif-file.ts';
import { sifTransport } from '../../../../src/image/transports/sif/transport.ts';
import { conformancePath } from '../../../helpers/conformance.ts';
import { skopeo } from '../../../helpers/skopeo.ts';

const exec = promisify(execFile);
const fixture = conformancePath('skopeo/systemtest/testdata/busybox_latest.sif');
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'sif-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function tarListing(path: string): Promise<string> {
  return (await exec('tar', ['tvf', path], { maxBuffer: 16 * 1024 * 1024 })).stdout;
}

describe('sif: busybox_latest.sif from skopeo systemtest', () => {
  test('config and layer contents match skopeo (the layer tar itself is not reproducible, even for skopeo)', async () => {
    const src = await sifTransport.parseReference(fixture).newImageSource({});
    try {
      const manifest = JSON.parse(Buffer.from((await src.getManifest()).manifest).toString());
      const theirs = JSON.parse(await skopeo('inspect', '--raw', `sif:${fixture}`));
      assert.deepEqual(manifest.layers[0].size, theirs.layers[0].size);
      assert.equal(manifest.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar');
      const configBlob = await src.getBlob(manifest.config);
      const chunks: Buffer[] = [];
      for await (const c of configBlob.stream) chunks.push(c as Buffer);
      const ours = Buffer.concat(chunks).toString();
      const theirConfig = await skopeo('inspect', '--config', '--raw', `sif:${fixture}`);
      const diffID = /sha256:[0-9a-f]{64}/;
      const theirDiffID = JSON.parse(theirConfig).rootfs.diff_ids[0];
      assert.equal(
        ours,
        theirConfig.replaceAll(theirDiffID.slice(7), manifest.layers[0].digest.slice(7)).trim(),
      );
      assert.match(ours, diffID);
      const layer = join(root, 'layer.tar');
      const blob = await src.getBlob(manifest.layers[0]);
      const out: Buffer[] = [];
      for await (const c of blob.stream) out.push(c as Buffer);
      await writeFile(layer, Buffer.concat(out));
      const dir = join(root, 'skopeo-dir');
      await skopeo('copy', '--quiet', `sif:${fixture}`, `dir:${dir}`);
      const skopeoManifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      assert.equal(
        await tarListing(layer),
        await tarListing(join(dir, skopeoManifest.layers[0].digest.slice(7))),
      );
    } finally {
      await src.close();
    }
  });

  test('identity is the resolved file; namespaces its parents; read-only', async () => {
    const ref = sifTransport.parseReference(fixture);
    const real = await realpath(fixture);
    assert.equal(ref.policyConfigurationIdentity(), real);
    assert.equal(ref.policyConfigurationNamespaces()[0], real.slice(0, real.lastIndexOf('/')));
    await assert.rejects(ref.newImageDestination({}), { code: 'READ_ONLY' });
  });

  test('without unsquashfs on PATH the source fails with TOOL_MISSING', async () => {
    const bin = join(root, 'bin');
    await mkdir(bin);
    await symlink('/bin/sh', join(bin, 'sh'));
    const saved = process.env.PATH;
    process.env.PATH = bin;
    try {
      await assert.rejects(sifTransport.parseReference(fixture).newImageSource({}), { code: 'TOOL_MISSING' });
    } finally {
      process.env.PATH = saved;
    }
  });

  test('a file that is not SIF fails with CORRUPT_IMAGE', async () => {
    const bad = join(root, 'bad.sif');
    await writeFile(bad, Buffer.alloc(4096, 7));
    await assert.rejects(sifTransport.parseReference(bad).newImageSource({}), { code: 'CORRUPT_IMAGE' });
  });

  test('definition file sections become the injected runscript (upstream parseDefFile)', () => {
    const def =
      'Bootstrap: docker\n%environment\n  export A=1\n  # comment\n\n%runscript\n  echo hi\n%labels\n  x y\n';
    assert.deepEqual(parseDefFile(def), { environment: ['export A=1'], runscript: ['echo hi'] });
  });
});
