// The package as npm publishes it and the image ships it: bin/portcullis.js beside dist/cli/ built
// by scripts/build.ts, no src/ (so bin/ runs the bundle), node_modules linked to this checkout's.
import { copyFile, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCli } from '../../scripts/build.ts';

/** Lays the published form out in `dir`; returns the path of its bin/portcullis.js. */
export async function publishedCli(dir: string): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  const bin = join(dir, 'bin/portcullis.js');
  await copyFile(fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url)), bin);
  await symlink(fileURLToPath(new URL('../../node_modules', import.meta.url)), join(dir, 'node_modules'));
  await buildCli(join(dir, 'dist'));
  return bin;
}
