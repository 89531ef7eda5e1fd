// docker-archive: `docker save` tarballs (manifest.json + config + layer tars), read and written.

import { LocalTransportError } from '../../local/errors.ts';
import { type DockerReference, parseNormalizedNamed } from '../../reference/index.ts';
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  ImageTransport,
  SystemContext,
} from '../../types.ts';
import { DockerArchiveDestination } from './destination.ts';
import { DockerArchiveSource } from './source.ts';

export const dockerArchiveTransport: ImageTransport = {
  name: 'docker-archive',
  parseReference(details: string): ImageReference {
    return parseDockerArchiveReference(details);
  },
  /** The archive path is not a meaningful identity (see policyConfigurationIdentity). */
  validatePolicyConfigurationScope(_scope: string): void {
    throw new LocalTransportError(
      'SCOPE_INVALID',
      'docker-archive: does not support any scopes except the default "" one',
    );
  },
};

function parseDockerArchiveReference(details: string): DockerArchiveReference {
  if (details === '') {
    throw new LocalTransportError(
      'REFERENCE_INVALID',
      `docker-archive reference ${details} isn't of the form <path>[:<reference>]`,
    );
  }
  const colon = details.indexOf(':');
  const path = colon < 0 ? details : details.slice(0, colon);
  if (colon < 0) return new DockerArchiveReference(path, undefined, -1);
  const rest = details.slice(colon + 1);
  if (rest.startsWith('@')) {
    if (!/^[+-]?\d+$/.test(rest.slice(1))) {
      throw new LocalTransportError('REFERENCE_INVALID', `invalid source index ${rest}: not an integer`);
    }
    const index = Number(rest.slice(1));
    if (index < 0) {
      throw new LocalTransportError(
        'REFERENCE_INVALID',
        `invalid source index @${index}: must not be negative`,
      );
    }
    return new DockerArchiveReference(path, undefined, index);
  }
  let ref: DockerReference;
  try {
    ref = parseNormalizedNamed(rest).tagNameOnly();
  } catch (err) {
    throw new LocalTransportError(
      'REFERENCE_INVALID',
      `docker-archive parsing reference: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (ref.digest !== undefined) {
    throw new LocalTransportError(
      'REFERENCE_INVALID',
      ref.tag === undefined
        ? `reference does not include a tag: ${ref.toString()}`
        : `docker-archive doesn't support digest references: ${ref.toString()}`,
    );
  }
  return new DockerArchiveReference(path, ref, -1);
}

export class DockerArchiveReference implements ImageReference {
  readonly transport = dockerArchiveTransport;
  readonly path: string;
  /** A tagged reference (RepoTags entry), or undefined. */
  readonly ref: DockerReference | undefined;
  readonly sourceIndex: number;

  constructor(path: string, ref: DockerReference | undefined, sourceIndex: number) {
    if (path.includes(':')) {
      throw new LocalTransportError(
        'REFERENCE_INVALID',
        `invalid docker-archive: reference: colon in path ${JSON.stringify(path)} is not supported`,
      );
    }
    this.path = path;
    this.ref = ref;
    this.sourceIndex = sourceIndex;
  }

  stringWithinTransport(): string {
    if (this.ref !== undefined) return `${this.path}:${this.ref.toString()}`;
    if (this.sourceIndex >= 0) return `${this.path}:@${this.sourceIndex}`;
    return this.path;
  }

  dockerReference(): DockerReference | undefined {
    return this.ref;
  }

  /** Archive files can be replaced wholesale, so their path says nothing reliable about the image. */
  policyConfigurationIdentity(): string {
    return '';
  }

  policyConfigurationNamespaces(): string[] {
    return [];
  }

  newImageSource(ctx: SystemContext): Promise<ImageSource> {
    return DockerArchiveSource.open(this, ctx);
  }

  newImageDestination(ctx: SystemContext): Promise<ImageDestination> {
    return DockerArchiveDestination.open(this, ctx);
  }

  async deleteImage(_ctx: SystemContext): Promise<void> {
    throw new LocalTransportError(
      'NOT_SUPPORTED',
      'deleting images not implemented for docker-archive: images',
    );
  }
}
