// Packs a directory tree (regular files and directories only) into a tar file.
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TarError, TarWriter } from './tar.ts';

async function walk(root: string, rel: string, tar: TarWriter): Promise<void> {
  const entries = (await readdir(join(root, rel), { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const e of entries) {
    const name = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) {
      await tar.addDirectory(name);
      await walk(root, name, tar);
    } else if (e.isFile()) {
      const { size } = await stat(join(root, name));
      await tar.addStream(name, size, createReadStream(join(root, name)));
    } else {
      throw new TarError(
        'TAR_UNSAFE_PATH',
        `packing ${name}: only regular files and directories are archived`,
      );
    }
  }
}

export async function packDirectory(root: string, target: string): Promise<void> {
  const out = createWriteStream(target, { flags: 'wx', mode: 0o644 });
  try {
    const tar = new TarWriter(out);
    await walk(root, '', tar);
    await tar.finish();
  } catch (err) {
    out.destroy();
    throw err;
  }
}
