// Locates ../shared/conformance (relative to the repository root) from here, also when the
// repository is a worktree one level deeper than the main checkout.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findConformance(): string {
  let dir = fileURLToPath(new URL('../../../', import.meta.url));
  for (;;) {
    const candidate = join(dir, '..', 'shared', 'conformance');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('shared/conformance not found above the repository');
    dir = parent;
  }
}

export const conformanceDir = findConformance();
export const imageFixtures = join(conformanceDir, 'containers-image');

/** A file under containers-image/, e.g. `manifest/fixtures/v2s2.manifest.json`. */
export function readFixture(path: string): Buffer {
  return readFileSync(join(imageFixtures, path));
}

export const manifestFixture = (name: string): Buffer => readFixture(`manifest/fixtures/${name}`);
export const internalFixture = (name: string): Buffer => readFixture(`internal/manifest/testdata/${name}`);
