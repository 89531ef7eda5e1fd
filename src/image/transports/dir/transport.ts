// dir: an image as plain files (manifest.json, blobs by digest, signature-N, version).
import type { Digest } from '../../digest.ts';
import { digestAlgorithm, digestHex } from '../../digest.ts';
import { LocalTransportError } from '../../local/errors.ts';
import {
  checkedDigest,
  parentDirectories,
  resolvePathToFullyExplicit,
  validateAbsolutePathScope,
} from '../../local/paths.ts';
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  ImageTransport,
  SystemContext,
} from '../../types.ts';
import { DirImageDestination } from './destination.ts';
import { DirImageSource } from './source.ts';

export const dirTransport: ImageTransport = {
  name: 'dir',
  parseReference(details: string): ImageReference {
    return new DirReference(details);
  },
  validatePolicyConfigurationScope: validateAbsolutePathScope,
};

/** Upstream's file names: sha256 digests by hex, others as `<algo>-<hex>`. */
export function digestFileName(d: Digest): string {
  const checked = checkedDigest(d);
  return digestAlgorithm(checked) === 'sha256'
    ? digestHex(checked)
    : `${digestAlgorithm(checked)}-${digestHex(checked)}`;
}

export function manifestFileName(instance?: Digest): string {
  return instance === undefined ? 'manifest.json' : `${digestFileName(instance)}.manifest.json`;
}

export function signatureFileName(index: number, instance?: Digest): string {
  return instance === undefined
    ? `signature-${index + 1}`
    : `${digestFileName(instance)}.signature-${index + 1}`;
}

export class DirReference implements ImageReference {
  readonly transport = dirTransport;
  readonly path: string;
  readonly resolvedPath: string;

  constructor(path: string) {
    if (path === '') throw new LocalTransportError('REFERENCE_INVALID', 'dir: empty path');
    this.path = path;
    this.resolvedPath = resolvePathToFullyExplicit(path);
  }

  stringWithinTransport(): string {
    return this.path;
  }

  dockerReference(): undefined {
    return undefined;
  }

  policyConfigurationIdentity(): string {
    return this.resolvedPath;
  }

  policyConfigurationNamespaces(): string[] {
    return parentDirectories(this.resolvedPath);
  }

  async newImageSource(_ctx: SystemContext): Promise<ImageSource> {
    return new DirImageSource(this);
  }

  newImageDestination(ctx: SystemContext): Promise<ImageDestination> {
    return DirImageDestination.open(this, ctx);
  }

  async deleteImage(_ctx: SystemContext): Promise<void> {
    throw new LocalTransportError('NOT_SUPPORTED', 'deleting images not implemented for dir: images');
  }
}
