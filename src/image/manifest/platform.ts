import { endianness, arch as osArch, platform as osPlatform } from 'node:os';
import type { Platform } from '../types.ts';
import { ManifestError } from './errors.ts';
import { OCI_INSTANCE_ZSTD_ANNOTATION } from './mediatypes.ts';
import type { ImagePlatform, ListInstance, ManifestList } from './types.ts';

/** A fully specified platform to look for; variant "" means "no variant". */
export interface WantedPlatform {
  readonly os: string;
  readonly architecture: string;
  readonly variant: string;
}

const goOS: Readonly<Record<string, string>> = { win32: 'windows', sunos: 'solaris' };
const goArch: Readonly<Record<string, string>> = { x64: 'amd64', ia32: '386', mipsel: 'mipsle' };

/**
 * This machine's platform in Go/OCI names. Upstream reads the ARM variant from /proc/cpuinfo; this
 * module does no I/O and assumes v8 for arm64 and v7 for arm, as upstream does on darwin/windows.
 */
export function hostPlatform(): WantedPlatform {
  const nodeArch = osArch();
  const architecture =
    nodeArch === 'ppc64' ? (endianness() === 'LE' ? 'ppc64le' : 'ppc64') : (goArch[nodeArch] ?? nodeArch);
  const variant = architecture === 'arm64' ? 'v8' : architecture === 'arm' ? 'v7' : '';
  const os = osPlatform();
  return { os: goOS[os] ?? os, architecture, variant };
}

// Aliases other tools write (uname, containerd's Normalize) for the architectures Go names.
const archAliases: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  i386: '386',
  i686: '386',
};

export function normalizeArchitecture(architecture: string): string {
  return archAliases[architecture.toLowerCase()] ?? architecture;
}

// Known variants per architecture, most capable first (upstream platform.compatibility).
const compatibility: Readonly<Record<string, readonly string[]>> = {
  arm: ['v8', 'v7', 'v6', 'v5'],
  arm64: ['v8'],
};

/**
 * Every platform acceptable for `choice`, best first (upstream platform.WantedPlatforms). Unset
 * fields come from `host`; the host variant is used only when the architecture was not chosen.
 */
export function wantedPlatforms(
  choice: Platform = {},
  host: WantedPlatform = hostPlatform(),
): WantedPlatform[] {
  const chosenArch = choice.architecture !== undefined && choice.architecture !== '';
  const architecture = normalizeArchitecture(chosenArch ? choice.architecture! : host.architecture);
  let variant = chosenArch ? '' : host.variant;
  if (choice.variant !== undefined && choice.variant !== '') variant = choice.variant;
  const os = choice.os !== undefined && choice.os !== '' ? choice.os : host.os;
  const known = Object.hasOwn(compatibility, architecture) ? compatibility[architecture] : undefined;
  let variants: string[];
  if (variant !== '') {
    const i = known?.indexOf(variant) ?? -1;
    variants = known !== undefined && i !== -1 ? [...known.slice(i), ''] : [variant, ''];
  } else {
    variants = ['', ...(known ?? [])];
  }
  return variants.map((v) => ({ os, architecture, variant: v }));
}

function matches(image: ImagePlatform, wanted: WantedPlatform): boolean {
  return (
    normalizeArchitecture(image.architecture) === wanted.architecture &&
    image.os === wanted.os &&
    (image.variant ?? '') === wanted.variant
  );
}

export function formatPlatform(p: {
  os: string;
  architecture: string;
  variant?: string | undefined;
}): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}

export interface ChooseInstanceOptions {
  /** Wanted os/architecture/variant; unset fields default to `host`. */
  readonly platform?: Platform;
  /** OCI indexes: prefer gzip over zstd instances of the same platform (default: prefer zstd, as upstream). */
  readonly preferGzip?: boolean;
  /** The machine's platform; default hostPlatform(). */
  readonly host?: WantedPlatform;
}

function isZstd(instance: ListInstance): boolean {
  return instance.annotations?.[OCI_INSTANCE_ZSTD_ANNOTATION] === 'true';
}

/**
 * The instance of a list to use on a platform (upstream ChooseInstance / ChooseInstanceByCompression):
 * Docker lists take the first entry matching the best wanted platform; OCI indexes also rank
 * zstd against gzip and let entries without a platform match anything, last.
 */
export function chooseInstance(list: ManifestList, options: ChooseInstanceOptions = {}): ListInstance {
  const wanted = wantedPlatforms(options.platform, options.host);
  let best: { instance: ListInstance; rank: number; zstd: boolean } | undefined;
  switch (list.kind) {
    case 'docker-list':
      for (const w of wanted) {
        const found = list.instances.find((i) => i.platform !== undefined && matches(i.platform, w));
        if (found !== undefined) return found;
      }
      break;
    case 'oci-index':
      for (const instance of list.instances) {
        let rank = Number.MAX_SAFE_INTEGER;
        if (instance.platform !== undefined) {
          const platform = instance.platform;
          rank = wanted.findIndex((w) => matches(platform, w));
          if (rank === -1) continue;
        }
        const zstd = isZstd(instance);
        const better =
          best === undefined ||
          rank < best.rank ||
          (rank === best.rank && zstd !== best.zstd && zstd !== (options.preferGzip === true));
        if (better) best = { instance, rank, zstd };
      }
      if (best !== undefined) return best.instance;
      break;
    default:
      throw new ManifestError('MANIFEST_UNSUPPORTED_TYPE', `choosing an instance: unknown list kind`);
  }
  const w = wanted[0]!;
  const offered = list.instances.map((i) =>
    i.platform === undefined ? '(no platform)' : formatPlatform(i.platform),
  );
  throw new ManifestError(
    'NO_MATCHING_PLATFORM',
    `no image found in ${list.kind === 'docker-list' ? 'manifest list' : 'image index'} for architecture ${JSON.stringify(w.architecture)}, variant ${JSON.stringify(w.variant)}, OS ${JSON.stringify(w.os)}; it offers ${offered.length === 0 ? 'nothing' : [...new Set(offered)].join(', ')}`,
  );
}
