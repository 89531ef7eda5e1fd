// Per-process memo of configuration derived from files (registries.conf, registries.d, auth
// files): kept until a file or directory it read changes, so a hot path pays a few stat calls
// per image instead of reading and parsing every file again.
import { statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

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
// rename (or a ConfigMap's symlink swap) changes the inode, a directory gaining or losing an
// entry changes its mtime. Synchronous on purpose: a stat of a cached inode takes about a
// microsecond, while the thread-pool round trip of an async one costs tens.
function stampOf(path: string): string {
  const s = statSync(path, { bigint: true, throwIfNoEntry: false });
  return s === undefined ? ABSENT : `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/** stampOf, with ENOTDIR (a parent is a file) counted as absent. */
function stamp(path: string): string {
  try {
    return stampOf(path);
  } catch (err) {
    if (missing(err)) return ABSENT;
    throw err;
  }
}

function unchanged(entry: Entry): boolean {
  for (const [path, was] of entry.stamps) if (stamp(path) !== was) return false;
  return true;
}

/**
 * The value `load` derives from files, cached under `key` and re-derived only when a path it
 * read has changed since (its stamp is taken before the read, so a change during the read is
 * seen next time). Failures are not cached.
 */
export async function cachedFromFiles<T>(key: string, load: (files: TrackedFiles) => Promise<T>): Promise<T> {
  const cached = entries.get(key);
  if (cached !== undefined && unchanged(cached)) return cached.value as T;
  const stamps = new Map<string, string>();
  /** Records `path`'s stamp, then reads it; a missing path reads as undefined. */
  const tracked = async <R>(path: string, read: () => Promise<R>): Promise<R | undefined> => {
    stamps.set(path, stamp(path));
    try {
      return await read();
    } catch (err) {
      if (missing(err)) return undefined;
      throw err;
    }
  };
  const files: TrackedFiles = {
    readFile: (path) => tracked(path, () => readFile(path, 'utf8')),
    readdir: (path) => tracked(path, () => readdir(path)),
  };
  const value = await load(files);
  if (entries.size >= MAX_ENTRIES && !entries.has(key)) entries.delete(entries.keys().next().value!);
  entries.set(key, { stamps, value });
  return value;
}
