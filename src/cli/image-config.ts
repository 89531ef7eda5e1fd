// Reads what `inspect` shows of an image: the instance manifest for this platform and its config.
import type { Digest } from '../image/digest.ts';
import {
  CONFIG_SIZE_MAX,
  chooseInstance,
  isListMIMEType,
  type Manifest,
  parseList,
  parseManifest,
} from '../image/manifest/index.ts';
import type { ImageSource, SystemContext } from '../image/types.ts';
import { CliError } from './args.ts';

export interface ResolvedImage {
  /** The top-level manifest (a list, or the image manifest itself). */
  readonly top: { readonly manifest: Uint8Array; readonly mimeType: string };
  readonly manifest: Manifest;
  /** The config blob; undefined for schema1, which has none. */
  readonly config: Uint8Array | undefined;
}

async function readBlob(src: ImageSource, digest: Digest, size: number): Promise<Buffer> {
  if (size > CONFIG_SIZE_MAX)
    throw new CliError('FAILED', `config ${digest}: larger than ${CONFIG_SIZE_MAX} bytes`);
  const { stream } = await src.getBlob({ digest, size });
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).byteLength;
    if (total > CONFIG_SIZE_MAX) {
      stream.destroy();
      throw new CliError('FAILED', `config ${digest}: larger than ${CONFIG_SIZE_MAX} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Chooses the instance for `ctx.platform` from a list, parses its manifest and reads its config. */
export async function resolveImage(src: ImageSource, ctx: SystemContext): Promise<ResolvedImage> {
  const top = await src.getManifest();
  let instance = top;
  if (isListMIMEType(top.mimeType)) {
    const chosen = chooseInstance(
      parseList(top.manifest, top.mimeType),
      ctx.platform === undefined ? {} : { platform: ctx.platform },
    );
    instance = await src.getManifest(chosen.digest);
  }
  const manifest = parseManifest(instance.manifest, instance.mimeType);
  switch (manifest.kind) {
    case 'schema1':
      return { top, manifest, config: undefined };
    case 'schema2':
    case 'oci':
      return { top, manifest, config: await readBlob(src, manifest.config.digest, manifest.config.size) };
    default:
      throw new CliError('FAILED', 'unknown manifest kind');
  }
}
