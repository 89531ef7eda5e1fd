// Which instances of a multi-arch image the webhook verifies. The pod's node (and so its
// platform) is unknown at admission time: the webhook checks the instances for the platforms the
// cluster runs, each as containers/image on such a node would (CRI-O and Podman evaluate the
// platform instance they pull, by its own digest and signatures).
import { BaseError, type InstanceSelection, normalizeArchitecture } from '../image/index.ts';

export type PlatformErrorCode = 'PLATFORM_INVALID';

export class PlatformError extends BaseError<PlatformErrorCode> {}

/** What `serve` verifies unless configured: most clusters run linux/amd64 nodes only. */
export const DEFAULT_PLATFORMS = 'linux/amd64';

const component = /^[a-z0-9_.-]+$/i;

/**
 * `os/arch[/variant]` entries separated by commas (every one must pass when the index has an
 * instance for it), or `all` (every image instance of the index must pass, as `copy --all`).
 */
export function parsePlatforms(text: string): InstanceSelection {
  const trimmed = text.trim();
  if (trimmed === 'all') return { kind: 'all' };
  const platforms = trimmed.split(',').map((entry) => {
    const parts = entry.trim().split('/');
    const [os, architecture, variant] = parts;
    if (parts.length < 2 || parts.length > 3 || !parts.every((p) => component.test(p))) {
      throw new PlatformError(
        'PLATFORM_INVALID',
        `platform ${JSON.stringify(entry)}: expected os/arch[/variant] or "all"`,
      );
    }
    return {
      os: os!,
      architecture: normalizeArchitecture(architecture!),
      ...(variant === undefined ? {} : { variant }),
    };
  });
  return { kind: 'platforms', platforms };
}

/** A canonical text of `selection`, for cache keys: equal selections give equal keys. */
export function platformsKey(selection: InstanceSelection): string {
  if (selection.kind === 'all') return 'all';
  return selection.platforms
    .map((p) => [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/'))
    .join(',');
}
