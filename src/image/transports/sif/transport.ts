// sif: Singularity images, read-only. The SquashFS root partition becomes one uncompressed layer
// via squashfs-tools' unsquashfs and tar (as upstream does); without unsquashfs: TOOL_MISSING.
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { type Digest, Digester, digestOf } from '../../digest.ts';
import { LocalTransportError } from '../../local/errors.ts';
import { openBlobFile } from '../../local/files.ts';
import {
  parentDirectories,
  resolvePathToFullyExplicit,
  validateAbsolutePathScope,
} from '../../local/paths.ts';
import {
  OCI_CONFIG_MEDIA_TYPE,
  OCI_LAYER_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
} from '../../manifest/index.ts';
import type {
  BlobInfo,
  ImageDestination,
  ImageReference,
  ImageSource,
  ImageTransport,
  ManifestBytes,
  Signature,
  SystemContext,
} from '../../types.ts';
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

export class SifReference implements ImageReference {
  readonly transport = sifTransport;
  readonly file: string;
  readonly resolvedFile: string;

  constructor(file: string) {
    this.file = file;
    this.resolvedFile = resolvePathToFullyExplicit(file);
  }

  stringWithinTransport(): string {
    return this.file;
  }

  dockerReference(): undefined {
    return undefined;
  }

  policyConfigurationIdentity(): string {
    return this.resolvedFile;
  }

  policyConfigurationNamespaces(): string[] {
    return parentDirectories(this.resolvedFile);
  }

  newImageSource(ctx: SystemContext): Promise<ImageSource> {
    return SifSource.open(this, ctx);
  }

  async newImageDestination(_ctx: SystemContext): Promise<ImageDestination> {
    throw new LocalTransportError('READ_ONLY', 'sif: images can only be read from, not written to');
  }

  async deleteImage(_ctx: SystemContext): Promise<void> {
    throw new LocalTransportError('NOT_SUPPORTED', 'sif: deleting images is not supported');
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

class SifSource implements ImageSource {
  readonly reference: SifReference;
  readonly hasThreadSafeGetBlob = true;
  readonly #workDir: string;
  readonly #layerPath: string;
  readonly #layerDigest: Digest;
  readonly #config: Buffer;
  readonly #configDigest: Digest;
  readonly #manifest: Buffer;

  private constructor(
    reference: SifReference,
    workDir: string,
    layerPath: string,
    layerDigest: Digest,
    layerSize: number,
    config: Buffer,
  ) {
    this.reference = reference;
    this.#workDir = workDir;
    this.#layerPath = layerPath;
    this.#layerDigest = layerDigest;
    this.#config = config;
    this.#configDigest = digestOf(config);
    this.#manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST_MEDIA_TYPE,
        config: { mediaType: OCI_CONFIG_MEDIA_TYPE, digest: this.#configDigest, size: config.length },
        layers: [{ mediaType: OCI_LAYER_MEDIA_TYPE, digest: layerDigest, size: layerSize }],
      }),
    );
  }

  static async open(reference: SifReference, ctx: SystemContext): Promise<SifSource> {
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
      return new SifSource(reference, workDir, layerPath, layerDigest, size, config);
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

  async getManifest(instanceDigest?: Digest): Promise<ManifestBytes> {
    if (instanceDigest !== undefined) {
      throw new LocalTransportError('LISTS_NOT_SUPPORTED', 'sif: manifest lists are not supported');
    }
    return { manifest: this.#manifest, mimeType: OCI_MANIFEST_MEDIA_TYPE };
  }

  async getBlob(info: BlobInfo): Promise<{ stream: Readable; size: number }> {
    if (info.digest === this.#configDigest) {
      return { stream: Readable.from([this.#config], { objectMode: false }), size: this.#config.length };
    }
    if (info.digest === this.#layerDigest) return openBlobFile(this.#layerPath, `sif: reading layer`);
    throw new LocalTransportError('BLOB_NOT_FOUND', `sif: no blob ${info.digest}`);
  }

  async getSignatures(): Promise<Signature[]> {
    return [];
  }

  async close(): Promise<void> {
    await rm(this.#workDir, { recursive: true, force: true });
  }
}
