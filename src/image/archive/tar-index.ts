// An index of a tar file's entries, so members are read by offset without extracting anything.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, posix } from 'node:path';
import { Readable } from 'node:stream';
import { safeEntryPath } from './extract.ts';
import { FileTarInput, type TarEntry, TarError, TarHeaderReader, type TarLimits } from './tar.ts';

export class TarIndex {
  readonly path: string;
  readonly #entries: ReadonlyMap<string, TarEntry>;

  private constructor(path: string, entries: ReadonlyMap<string, TarEntry>) {
    this.path = path;
    this.#entries = entries;
  }

  /** Scans the headers of `path`; entries with unsafe names fail the whole archive. */
  static async open(path: string, limits: TarLimits = {}): Promise<TarIndex> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const reader = new TarHeaderReader(new FileTarInput(handle, size), limits);
      const entries = new Map<string, TarEntry>();
      for (let e = await reader.next(); e !== undefined; e = await reader.next()) {
        const name = safeEntryPath(e.name);
        if (name !== '') entries.set(name, e);
      }
      return new TarIndex(path, entries);
    } finally {
      await handle.close();
    }
  }

  names(): string[] {
    return [...this.#entries.keys()];
  }

  /** The regular file behind `name`, following one symlink inside the archive (as upstream does). */
  resolve(name: string): TarEntry | undefined {
    let entry = this.#entries.get(safeEntryPath(name));
    if (entry?.type === 'symlink') {
      if (entry.linkName.startsWith('/')) {
        throw new TarError('TAR_UNSAFE_PATH', `tar entry ${JSON.stringify(name)}: absolute symlink target`);
      }
      const target = safeEntryPath(posix.join(dirname(safeEntryPath(name)), entry.linkName));
      entry = this.#entries.get(target);
    }
    if (entry === undefined) return undefined;
    if (entry.type !== 'file') {
      throw new TarError('TAR_CORRUPT', `tar entry ${JSON.stringify(name)}: not a regular file`);
    }
    return entry;
  }

  stream(entry: TarEntry): Readable {
    if (entry.size === 0) return Readable.from([], { objectMode: false });
    return createReadStream(this.path, { start: entry.dataOffset, end: entry.dataOffset + entry.size - 1 });
  }

  async read(entry: TarEntry, limit: number): Promise<Buffer> {
    if (entry.size > limit) {
      throw new TarError(
        'TAR_LIMIT_EXCEEDED',
        `tar entry of ${entry.size} bytes exceeds the ${limit} byte limit`,
      );
    }
    const handle = await open(this.path, 'r');
    try {
      const buf = Buffer.alloc(entry.size);
      await handle.read(buf, 0, entry.size, entry.dataOffset);
      return buf;
    } finally {
      await handle.close();
    }
  }
}
