// tarball: read-only; each file is one layer tarball (any compression), with a synthesized OCI
// config and manifest as upstream builds them.
import { type BigIntStats, createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { arch } from 'node:process';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sniffedStream, zlibDecompressor } from '../../archive/compression.ts';
import { type Digest, Digester } from '../../digest.ts';
import { LocalTransportError } from '../../local/errors.ts';
import {
  SynthesizedImageReference,
  SynthesizedImageSource,
  type SynthesizedLayer,
} from '../../local/synthesized.ts';
import {
  OCI_LAYER_GZIP_MEDIA_TYPE,
  OCI_LAYER_MEDIA_TYPE,
  OCI_LAYER_ZSTD_MEDIA_TYPE,
} from '../../manifest/index.ts';
import type { ImageReference, ImageSource, ImageTransport, SystemContext } from '../../types.ts';

export const tarballTransport: ImageTransport = {
  name: 'tarball',
  parseReference(details: string): ImageReference {
    const files = details.split(':');
    if (details === '' || files.some((f) => f === '')) {
      throw new LocalTransportError(
        'REFERENCE_INVALID',
        `tarball: invalid reference ${JSON.stringify(details)}`,
      );
    }
    if (files.includes('-')) {
      throw new LocalTransportError(
        'NOT_SUPPORTED',
        'tarball: reading a layer from stdin ("-") is not supported',
      );
    }
    return new TarballReference(files);
  },
  validatePolicyConfigurationScope(_scope: string): void {
    throw new LocalTransportError(
      'SCOPE_INVALID',
      'tarball: does not support any scopes except the default "" one',
    );
  },
};

const goArch: Record<string, string> = { x64: 'amd64', ia32: '386', ppc64: 'ppc64le' };

/** Go's RFC 3339 with nanoseconds, trailing zeros trimmed (UTC). */
function rfc3339Nano(ns: bigint): string {
  const seconds = ns / 1_000_000_000n;
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${base}${fraction === '' ? '' : `.${fraction}`}Z`;
}

export class TarballReference extends SynthesizedImageReference {
  readonly transport = tarballTransport;
  readonly files: readonly string[];

  constructor(files: readonly string[]) {
    super();
    this.files = files;
  }

  stringWithinTransport(): string {
    return this.files.join(':');
  }

  /** Files can change under the same names: no identity beyond the transport-wide scope. */
  policyConfigurationIdentity(): string {
    return '';
  }

  policyConfigurationNamespaces(): string[] {
    return [];
  }

  newImageSource(_ctx: SystemContext): Promise<ImageSource> {
    return openTarball(this);
  }
}

function digesting(d: Digester): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      d.update(chunk);
      callback(null, chunk);
    },
  });
}

/** Reads each file once to learn its digests and compression; serves the files as they are. */
async function openTarball(reference: TarballReference): Promise<ImageSource> {
  const layers: SynthesizedLayer[] = [];
  const diffIDs: Digest[] = [];
  const history: Record<string, string>[] = [];
  let created = 0n;
  for (const path of reference.files) {
    let info: BigIntStats;
    try {
      info = await stat(path, { bigint: true });
    } catch (err) {
      throw new LocalTransportError('IMAGE_NOT_FOUND', `tarball: reading ${path}: no such file`, {
        cause: err,
      });
    }
    const blobDigester = new Digester();
    const diffDigester = new Digester();
    const sniffed = await sniffedStream(createReadStream(path).pipe(digesting(blobDigester)));
    const decompressor = zlibDecompressor(sniffed.compression);
    if (decompressor === undefined && sniffed.compression !== 'uncompressed') {
      throw new LocalTransportError(
        'NOT_SUPPORTED',
        `tarball: ${path}: ${sniffed.compression} layers are not supported`,
      );
    }
    const stages =
      decompressor === undefined ? [digesting(diffDigester)] : [decompressor, digesting(diffDigester)];
    const sink = new Writable({ write: (_chunk, _enc, callback) => callback() });
    await pipeline([sniffed.stream, ...stages, sink]);
    const blobID = blobDigester.digest();
    const diffID = decompressor === undefined ? blobID : diffDigester.digest();
    diffIDs.push(diffID);
    if (info.mtimeNs > created) created = info.mtimeNs;
    history.push({
      created: rfc3339Nano(info.mtimeNs),
      created_by: `/bin/sh -c #(nop) ADD file:${diffID.slice(7)} in /`,
      comment: 'imported from tarball',
    });
    const mediaType =
      sniffed.compression === 'gzip'
        ? OCI_LAYER_GZIP_MEDIA_TYPE
        : sniffed.compression === 'zstd'
          ? OCI_LAYER_ZSTD_MEDIA_TYPE
          : OCI_LAYER_MEDIA_TYPE;
    layers.push({ mediaType, digest: blobID, size: Number(info.size), path });
  }
  // Field order follows Go's imgspecv1.Image so the config digest matches upstream's.
  const config = Buffer.from(
    JSON.stringify({
      created: rfc3339Nano(created),
      architecture: goArch[arch] ?? arch,
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: diffIDs },
      history,
    }),
  );
  return new SynthesizedImageSource({ reference, config, layers, threadSafe: false });
}
