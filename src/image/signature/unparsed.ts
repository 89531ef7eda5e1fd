// An UnparsedImage over any transport's ImageSource, opened only when evaluation needs the
// manifest or signatures (so reject / insecureAcceptAnything policies touch no network).
import type { ImageReference, ImageSource, ManifestBytes, Signature, SystemContext } from '../types.ts';
import type { UnparsedImage } from './evaluate.ts';

export interface ClosableUnparsedImage extends UnparsedImage {
  /** Closes the source if it was opened; call once evaluation is done. */
  close(): Promise<void>;
}

export function unparsedImageFromReference(
  reference: ImageReference,
  ctx: SystemContext,
): ClosableUnparsedImage {
  let source: Promise<ImageSource> | undefined;
  const open = (): Promise<ImageSource> => {
    source ??= reference.newImageSource(ctx);
    return source;
  };
  return {
    reference,
    async manifest(): Promise<ManifestBytes> {
      return (await open()).getManifest();
    },
    async signatures(): Promise<Signature[]> {
      return (await open()).getSignatures();
    },
    async referrerSource(): Promise<ImageSource | undefined> {
      const opened = await open();
      return opened.listReferrers === undefined ? undefined : opened;
    },
    async close(): Promise<void> {
      if (source === undefined) return;
      const opened = await source.catch(() => undefined);
      await opened?.close();
    },
  };
}
