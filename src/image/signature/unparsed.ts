// An UnparsedImage over any transport's ImageSource, opened only when evaluation needs the
// manifest or signatures (so reject / insecureAcceptAnything policies touch no network), and the
// choice of what to evaluate when the reference names a manifest list.
import type { Digest } from '../digest.ts';
import {
  chooseInstance,
  formatPlatform,
  isListMIMEType,
  ManifestError,
  type ManifestList,
  manifestDigest,
  parseList,
  type WantedPlatform,
  wantedPlatforms,
} from '../manifest/index.ts';
import type {
  ImageReference,
  ImageSource,
  ManifestBytes,
  Platform,
  Signature,
  SystemContext,
  UnparsedImage,
} from '../types.ts';

export interface ClosableUnparsedImage extends UnparsedImage {
  /** Closes the source if it was opened; call once evaluation is done. */
  close(): Promise<void>;
  /** The manifest and signatures of one instance of the list this image is. */
  forInstance(digest: Digest): Pick<UnparsedImage, 'manifest' | 'signatures'>;
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
    async signatures(wants): Promise<Signature[]> {
      return (await open()).getSignatures(undefined, wants);
    },
    async referrerSource(): Promise<ImageSource | undefined> {
      const opened = await open();
      return opened.listReferrers === undefined ? undefined : opened;
    },
    forInstance: (digest) => ({
      manifest: async () => (await open()).getManifest(digest),
      signatures: async (wants) => (await open()).getSignatures(digest, wants),
    }),
    async close(): Promise<void> {
      if (source === undefined) return;
      const opened = await source.catch(() => undefined);
      await opened?.close();
    },
  };
}

/**
 * Which instances of a manifest list are evaluated: those chosen for each platform (as
 * containers/image's copy chooses one for its system), or every image instance of the list (as
 * `copy --all` checks each one).
 */
export type InstanceSelection =
  | { readonly kind: 'platforms'; readonly platforms: readonly Platform[] }
  | { readonly kind: 'all' };

/** The images to judge for one reference, and the selected platforms the list had no instance for. */
export interface ImagesToEvaluate {
  readonly images: readonly UnparsedImage[];
  /** Only for a list: the platforms of `selection` it offers no instance for ("os/arch[/variant]"). */
  readonly missing: readonly string[];
  /** Only for a list: what it offers, for explanations. */
  readonly offered: readonly string[];
  /** The list's digest when the reference names a list. */
  readonly list?: Digest;
}

/** Attestations BuildKit stores in an index next to the images; never run, so never judged. */
const ATTESTATION_ANNOTATION = 'vnd.docker.reference.type';

function describe(p: { os: string; architecture: string; variant?: string | undefined } | undefined): string {
  return p === undefined ? '(no platform)' : formatPlatform(p);
}

function chooseFromList(
  list: ManifestList,
  selection: InstanceSelection,
  host: WantedPlatform | undefined,
): { chosen: { platform: string; digest: Digest }[]; missing: string[] } {
  const chosen = new Map<Digest, string>();
  const missing: string[] = [];
  if (selection.kind === 'all') {
    for (const i of list.instances) {
      if (i.annotations?.[ATTESTATION_ANNOTATION] !== undefined) continue;
      if (!chosen.has(i.digest)) chosen.set(i.digest, describe(i.platform));
    }
  } else {
    for (const platform of selection.platforms) {
      try {
        const instance = chooseInstance(list, { platform, ...(host === undefined ? {} : { host }) });
        if (!chosen.has(instance.digest)) chosen.set(instance.digest, describe(instance.platform));
      } catch (err) {
        if (!(err instanceof ManifestError && err.code === 'NO_MATCHING_PLATFORM')) throw err;
        const wanted = wantedPlatforms(platform, host)[0];
        if (wanted !== undefined) missing.push(formatPlatform(wanted));
      }
    }
  }
  return { chosen: [...chosen].map(([digest, platform]) => ({ digest, platform })), missing };
}

/**
 * What containers/image evaluates when it is asked to run what `image` names: the image itself,
 * or, when its manifest is a list, the selected instances, each with the instance's manifest and
 * signatures (looked up by the instance digest) while signed identities are still matched
 * against `image.reference`. `instance(digest)` must give the instance's manifest and signatures.
 */
export async function imagesToEvaluate(
  image: UnparsedImage,
  instance: (digest: Digest) => Pick<UnparsedImage, 'manifest' | 'signatures'>,
  selection: InstanceSelection,
  host?: WantedPlatform,
): Promise<ImagesToEvaluate> {
  const top = await image.manifest();
  if (!isListMIMEType(top.mimeType)) {
    const cached: UnparsedImage = { ...image, manifest: () => Promise.resolve(top) };
    return { images: [cached], missing: [], offered: [] };
  }
  const list = parseList(top.manifest, top.mimeType);
  const listDigest = manifestDigest(top.manifest);
  const { chosen, missing } = chooseFromList(list, selection, host);
  const images = chosen.map(({ digest, platform }): UnparsedImage => {
    const own = instance(digest);
    return {
      reference: image.reference,
      manifest: async () => {
        const m = await own.manifest();
        // As upstream's copy: an instance that is itself a list is never judged (nor run).
        if (isListMIMEType(m.mimeType)) {
          throw new ManifestError(
            'MANIFEST_UNSUPPORTED_TYPE',
            `instance ${digest} of list ${listDigest} is itself a manifest list: nested lists are not supported`,
          );
        }
        return m;
      },
      signatures: (wants) => own.signatures(wants),
      ...(image.referrerSource === undefined ? {} : { referrerSource: () => image.referrerSource!() }),
      instance: {
        platform,
        digest,
        list: {
          digest: listDigest,
          manifest: () => Promise.resolve(top),
          signatures: (wants) => image.signatures(wants),
        },
      },
    };
  });
  return {
    images,
    missing,
    offered: [...new Set(list.instances.map((i) => describe(i.platform)))],
    list: listDigest,
  };
}
