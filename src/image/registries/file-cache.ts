// Per-process memo of configuration derived from files (registries.conf, registries.d, auth
// files): kept until a file or directory it read changes, so a hot path pays a few stat calls
// per image instead of reading and parsing every file again.
import { readdir, readFile, stat } from 'node:fs/promises';

/** What a loader may read; every read is recorded with the file's identity at that moment. */
export interface TrackedFiles {
  /** The file's text, or undefined when it does not exist. Other failures throw. */
  readFile(path: string): Promise<string | undefined>;
  /** The directory's entry names, or undefined when it (or a parent) does not exist. */
  readdir(path: string): Promise<string[] | undefined>;
}

interface Entry {
  readonly stamps: ReadonlyMap<string, string>;
  readonly value: unknown;
}

const ABSENT = 'absent';
const MAX_ENTRIES = 256;
const entries = new Map<string, Entry>();

function missing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

// Inode, size and both times in nanoseconds: an in-place edit changes mtime/ctime, an atomic
// rename changes the inode, a directory gaining or losing an entry changes its mtime.
async function stampOf(path: string): Promise<string> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (err) {
    if (missing(err)) return ABSENT;
    throw err;
  }
}

async function unchanged(entry: Entry): Promise<boolean> {
  const now = await Promise.all([...entry.stamps].map(async ([path, was]) => (await stampOf(path)) === was));
  return now.every(Boolean);
}

/**
 * The value `load` derives from files, cached under `key` and re-derived only when a path it
 * read has changed since (its stamp is taken before the read, so a change during the read is
 * seen next time). Failures are not cached.
 */
export async function cachedFromFiles<T>(key: string, load: (files: TrackedFiles) => Promise<T>): Promise<T> {
  const cached = entries.get(key);
  if (cached !== undefined && (await unchanged(cached))) return cached.value as T;
  const stamps = new Map<string, string>();
  const files: TrackedFiles = {
    async readFile(path) {
      stamps.set(path, await stampOf(path));
      try {
        return await readFile(path, 'utf8');
      } catch (err) {
        if (missing(err)) return undefined;
        throw err;
      }
    },
    async readdir(path) {
      stamps.set(path, await stampOf(path));
      try {
        return await readdir(path);
      } catch (err) {
        if (missing(err)) return undefined;
        throw err;
      }
    },
  };
  const value = await load(files);
  if (entries.size >= MAX_ENTRIES && !entries.has(key)) entries.delete(entries.keys().next().value!);
  entries.set(key, { stamps, value });
  return value;
}
