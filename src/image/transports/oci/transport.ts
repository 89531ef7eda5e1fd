// oci: an OCI image layout directory (index.json, oci-layout, blobs/<algo>/<hex>).

import { LocalTransportError } from '../../local/errors.ts';
import {
  deleteFromLayout,
  layoutStringWithinTransport,
  OciLayoutDestination,
  OciLayoutSource,
  parseLayoutReference,
} from '../../local/oci-layout.ts';
import {
  resolvePathToFullyExplicit,
  selfAndParentDirectories,
  validateAbsolutePathScope,
} from '../../local/paths.ts';
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  ImageTransport,
  SystemContext,
} from '../../types.ts';

export const ociTransport: ImageTransport = {
  name: 'oci',
  parseReference(details: string): ImageReference {
    const { path, image, sourceIndex } = parseLayoutReference('oci', details);
    return new OciReference(path, image, sourceIndex);
  },
  validatePolicyConfigurationScope: validateAbsolutePathScope,
};

export class OciReference implements ImageReference {
  readonly transport = ociTransport;
  readonly dir: string;
  readonly resolvedDir: string;
  /** The ref.name annotation; "" = the only image (as a source) or unnamed (as a destination). */
  readonly image: string;
  /** `@N` source index, -1 when unset. */
  readonly sourceIndex: number;

  constructor(dir: string, image: string, sourceIndex: number) {
    this.dir = dir;
    this.resolvedDir = resolvePathToFullyExplicit(dir);
    this.image = image;
    this.sourceIndex = sourceIndex;
  }

  stringWithinTransport(): string {
    return layoutStringWithinTransport(this.dir, this.image, this.sourceIndex);
  }

  dockerReference(): undefined {
    return undefined;
  }

  /** The image name is not part of the identity: "$dir:$image" and "$dir:" may be the same image. */
  policyConfigurationIdentity(): string {
    return this.resolvedDir;
  }

  policyConfigurationNamespaces(): string[] {
    return selfAndParentDirectories(this.resolvedDir);
  }

  newImageSource(ctx: SystemContext): Promise<ImageSource> {
    return OciLayoutSource.open(this, this.resolvedDir, this.image, this.sourceIndex, ctx.ociSharedBlobDir);
  }

  async newImageDestination(ctx: SystemContext): Promise<ImageDestination> {
    if (this.sourceIndex >= 0) {
      throw new LocalTransportError(
        'REFERENCE_INVALID',
        `oci:${this.stringWithinTransport()}: cannot use a source index as a destination`,
      );
    }
    return OciLayoutDestination.open(this, this.resolvedDir, this.image, ctx);
  }

  deleteImage(ctx: SystemContext): Promise<void> {
    const what = `oci:${this.stringWithinTransport()}`;
    return deleteFromLayout(this.resolvedDir, this.image, this.sourceIndex, ctx.ociSharedBlobDir, what);
  }
}
