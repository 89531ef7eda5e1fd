// Path-safe extraction of a tar stream into a fresh directory: nothing lands outside it.
import { createWriteStream } from 'node:fs';
import { link, lstat, mkdir, realpath, symlink, unlink } from 'node:fs/promises';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StreamTarInput, TarError, TarHeaderReader, type TarLimits } from './tar.ts';

export interface ExtractOptions extends TarLimits {
  /** Largest total of file data accepted; default 64 GiB. */
  readonly maxTotalSize?: number;
}

const DEFAULT_MAX_TOTAL = 64 * 1024 ** 3;

/** The entry's path relative to the root, normalized; throws TAR_UNSAFE_PATH for escapes. */
export function safeEntryPath(name: string): string {
  if (name.includes('\0'))
    throw new TarError('TAR_UNSAFE_PATH', `tar entry ${JSON.stringify(name)}: NUL in name`);
  if (name.startsWith('/')) {
    throw new TarError('TAR_UNSAFE_PATH', `tar entry ${JSON.stringify(name)}: absolute path`);
  }
  const normalized = posix.normalize(name).replace(/\/+$/, '');
  if (normalized === '..' || normalized.startsWith('../')) {
    throw new TarError('TAR_UNSAFE_PATH', `tar entry ${JSON.stringify(name)}: path escapes the archive root`);
  }
  return normalized === '.' ? '' : normalized;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

async function ensureParent(root: string, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  // A symlink entry may have turned a parent into a link: refuse to write through it.
  const real = await realpath(dirname(path));
  if (!inside(root, real)) {
    throw new TarError(
      'TAR_UNSAFE_PATH',
      `tar entry ${JSON.stringify(path)}: parent resolves outside the root`,
    );
  }
}

async function removeExisting(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (!st.isDirectory()) await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Extracts `source` into `destDir` (which must exist and be empty); regular files, dirs and inward links only. */
export async function extractTar(
  source: AsyncIterable<Uint8Array>,
  destDir: string,
  options: ExtractOptions = {},
): Promise<void> {
  const root = await realpath(destDir);
  const maxTotal = options.maxTotalSize ?? DEFAULT_MAX_TOTAL;
  const reader = new TarHeaderReader(new StreamTarInput(source), options);
  let total = 0;
  for (let entry = await reader.next(); entry !== undefined; entry = await reader.next()) {
    const rel = safeEntryPath(entry.name);
    if (rel === '') continue;
    const target = join(root, rel);
    switch (entry.type) {
      case 'directory':
        await ensureParent(root, target);
        await mkdir(target, { recursive: true });
        break;
      case 'file': {
        total += entry.size;
        if (total > maxTotal)
          throw new TarError('TAR_LIMIT_EXCEEDED', `tar: more than ${maxTotal} bytes of data`);
        await ensureParent(root, target);
        await removeExisting(target);
        await pipeline(reader.data(entry), createWriteStream(target, { flags: 'wx', mode: 0o644 }));
        break;
      }
      case 'symlink': {
        if (entry.linkName.startsWith('/') || !inside(root, resolve(dirname(target), entry.linkName))) {
          throw new TarError(
            'TAR_UNSAFE_PATH',
            `tar entry ${JSON.stringify(entry.name)}: symlink to ${JSON.stringify(entry.linkName)} points outside the archive`,
          );
        }
        await ensureParent(root, target);
        await removeExisting(target);
        await symlink(entry.linkName, target);
        break;
      }
      case 'hardlink': {
        const source = join(root, safeEntryPath(entry.linkName));
        await ensureParent(root, target);
        await ensureParent(root, source);
        await removeExisting(target);
        await link(source, target);
        break;
      }
      case 'other':
        // Devices, FIFOs and the like have no place in an image archive: skip their (empty) data.
        break;
      default:
        throw new TarError('TAR_CORRUPT', `tar entry ${JSON.stringify(entry.name)}: unknown type`);
    }
  }
}
