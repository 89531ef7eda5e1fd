// A clone passes its tests with nothing beside it: no test, script or source file names a path
// outside the repository (the vectors and upstream fixtures live in test/fixtures/).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const scanned = ['src', 'test', 'e2e', 'scripts', 'bin'];
const skipped = new Set(['node_modules', 'fixtures', 'dist']);
const textFile = /\.(ts|js|mjs|sh)$/;

function list(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return skipped.has(e.name) ? [] : list(join(dir, e.name));
    return textFile.test(e.name) ? [join(dir, e.name)] : [];
  });
}

const files = [...scanned.flatMap((d) => list(join(root, d))), join(root, 'package.json')];
const relativeLiteral = /['"`]((?:\.\.\/)+[^'"`$\s]*)['"`]/g;

describe('the repository stands alone', () => {
  it('scans the tests, scripts and sources', () => {
    assert.ok(files.some((f) => f.endsWith('test/helpers/conformance.ts')));
  });

  it('names no folder beside the checkout', () => {
    const offenders = files.filter((f) => /\.\.\/shared\b|shared\/conformance/.test(readFileSync(f, 'utf8')));
    assert.deepEqual(
      offenders.map((f) => relative(root, f)),
      [],
    );
  });

  it('resolves every relative path literal inside the repository', () => {
    const outside: string[] = [];
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(relativeLiteral)) {
        const target = relative(root, resolve(dirname(file), m[1]!));
        if (target.startsWith('..')) outside.push(`${relative(root, file)}: ${m[1]}`);
      }
    }
    assert.deepEqual(outside, []);
  });
});
