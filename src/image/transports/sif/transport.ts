// sif: Singularity images, read-only. The SquashFS root partition becomes one uncompressed layer
// via squashfs-tools' unsquashfs and tar (as upstream does); without unsquashfs: TOOL_MISSING.
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { Digester } from '../../digest.ts';
import { LocalTransportError } from '../../local/errors.ts';
import {
  parentDirectories,
  resolvePathToFullyExplicit,
  validateAbsolutePathScope,
} from '../../local/paths.ts';
import { SynthesizedImageReference, SynthesizedImageSource } from '../../local/synthesized.ts';
import { OCI_LAYER_MEDIA_TYPE } from '../../manifest/index.ts';
import type { ImageReference, ImageSource, ImageTransport, SystemContext } from '../../types.ts';
import { parseDefFile, readSifImage } from './sif-file.ts';

const exec = promisify(execFile);
const INJECTED_SCRIPT = '/podman/runscript';
const MAX_DEFFILE = 1024 * 1024;

export const sifTransport: ImageTransport = {
  name: 'sif',
  parseReference(details: string): ImageReference {
    if (details === '') throw new LocalTransportError('REFERENCE_INVALID', 'sif: empty path');
    return new SifReference(details);
  },
  validatePolicyConfigurationScope: validateAbsolutePathScope,
};

export class SifReference extends SynthesizedImageReference {
  readonly transport = sifTransport;
  readonly file: string;
  readonly resolvedFile: string;

  constructor(file: string) {
    super();
    this.file = file;
    this.resolvedFile = resolvePathToFullyExplicit(file);
  }

  stringWithinTransport(): string {
    return this.file;
  }

  policyConfigurationIdentity(): string {
    return this.resolvedFile;
  }

  policyConfigurationNamespaces(): string[] {
    return parentDirectories(this.resolvedFile);
  }

  newImageSource(ctx: SystemContext): Promise<ImageSource> {
    return openSif(this, ctx);
  }
}

async function which(tool: string): Promise<boolean> {
  try {
    await exec('sh', ['-c', `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
}

function rfc3339(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}Z`;
}

async function sliceToFile(path: string, start: number, size: number, target: string): Promise<void> {
  if (size === 0) {
    await writeFile(target, '');
    return;
  }
  await pipeline(
    createReadStream(path, { start, end: start + size - 1 }),
    createWriteStream(target, { mode: 0o600 }),
  );
}

/** Converts the SIF file's SquashFS root into one layer tarball in a work directory. */
async function openSif(reference: SifReference, ctx: SystemContext): Promise<ImageSource> {
  const what = `sif:${reference.file}`;
  if (!(await which('unsquashfs'))) {
    throw new LocalTransportError(
      'TOOL_MISSING',
      `${what}: converting SIF needs unsquashfs from squashfs-tools, which is not installed`,
    );
  }
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(reference.resolvedFile, 'r');
  } catch (err) {
    throw new LocalTransportError('IMAGE_NOT_FOUND', `${what}: loading SIF file: no such file`, {
      cause: err,
    });
  }
  const workDir = await mkdtemp(join(ctx.tmpDir ?? tmpdir(), 'portcullis-sif-'));
  try {
    const image = await readSifImage(handle, what);
    let command = 'bash';
    let injected: string | undefined;
    if (image.deffile !== undefined && image.deffile.size <= MAX_DEFFILE) {
      const buf = Buffer.alloc(image.deffile.size);
      await handle.read(buf, 0, buf.length, image.deffile.offset);
      const { environment, runscript } = parseDefFile(buf.toString('utf8'));
      if (environment.length > 0 || runscript.length > 0) {
        injected = `#!/bin/bash\n${environment.join('\n')}\n${runscript.join('\n')}\n`;
        command = INJECTED_SCRIPT;
      }
    }
    const squashfs = join(workDir, 'rootfs.squashfs');
    const rootDir = join(workDir, 'rootfs');
    const layerPath = join(workDir, 'rootfs.tar');
    await sliceToFile(reference.resolvedFile, image.rootfs.offset, image.rootfs.size, squashfs);
    if (injected !== undefined) {
      await mkdir(join(rootDir, 'podman'), { recursive: true, mode: 0o755 });
      await writeFile(join(rootDir, INJECTED_SCRIPT), injected);
      await chmod(join(rootDir, INJECTED_SCRIPT), 0o755);
    }
    // One shell under fakeroot for both steps, as upstream: ownership survives for unprivileged users.
    const script = 'unsquashfs -d "$1" -f "$2" >/dev/null && tar --acls --xattrs -C "$1" -cpf "$3" ./';
    const args = ['sh', '-c', script, 'sh', rootDir, squashfs, layerPath];
    if (await which('fakeroot')) await exec('fakeroot', ['--', ...args], { maxBuffer: 16 * 1024 * 1024 });
    else await exec(args[0]!, args.slice(1), { maxBuffer: 16 * 1024 * 1024 });
    await rm(squashfs, { force: true });
    await rm(rootDir, { recursive: true, force: true });
    const digester = new Digester();
    for await (const chunk of createReadStream(layerPath)) digester.update(chunk as Buffer);
    const layerDigest = digester.digest();
    const created = rfc3339(image.modifiedAt);
    // Field order follows Go's imgspecv1.Image so the config matches upstream's byte for byte.
    const config = Buffer.from(
      JSON.stringify({
        created,
        architecture: image.primaryArch,
        os: 'linux',
        config: { Cmd: [command] },
        rootfs: { type: 'layers', diff_ids: [layerDigest] },
        history: [
          {
            created,
            created_by: `/bin/sh -c #(nop) ADD file:${layerDigest.slice(7)} in /`,
            comment: `imported from SIF, uuid: ${image.id}`,
          },
          { created, created_by: '/bin/sh -c #(nop) CMD ["bash"]', empty_layer: true },
        ],
      }),
    );
    const { size } = await stat(layerPath);
    return new SynthesizedImageSource({
      reference,
      config,
      layers: [{ mediaType: OCI_LAYER_MEDIA_TYPE, digest: layerDigest, size, path: layerPath }],
      threadSafe: true,
      cleanup: () => rm(workDir, { recursive: true, force: true }),
    });
  } catch (err) {
    await rm(workDir, { recursive: true, force: true });
    if (err instanceof LocalTransportError) throw err;
    throw new LocalTransportError('CORRUPT_IMAGE', `${what}: converting rootfs from SquashFS to tarball`, {
      cause: err,
    });
  } finally {
    await handle.close();
  }
}
