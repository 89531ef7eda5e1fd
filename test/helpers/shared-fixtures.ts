// Finds ../shared/conformance (relative to the repository root) by walking up from here, so tests
// run unchanged from the main checkout and from worktrees nested one level deeper.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function find(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'shared', 'conformance');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error('shared/conformance not found above the repository');
  }
}

export const conformanceRoot = find();

/** Absolute path of a file under shared/conformance. */
export function conformancePath(relative: string): string {
  return join(conformanceRoot, relative);
}
