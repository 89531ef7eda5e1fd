// Builds the published package: the CLI bundled with esbuild into dist/cli/ (one chunk per command,
// loaded when that command runs), and the library exports compiled by tsc into dist/src/ (with
// declarations). Run: node scripts/build.ts [outdir=dist] [--cli-only]
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Bundles src/cli/main.ts into `outdir`/cli/main.js and the chunks it imports lazily.
 * Third-party packages stay external, loaded by Node from node_modules: undici and openpgp are
 * loaded by computed paths esbuild cannot follow (src/image/transports/docker/http.ts,
 * src/image/signature/gpg/openpgp.ts); bundling yaml (its ESM build: with code splitting esbuild
 * hands a CommonJS package's dynamic import only a default export) measured no faster; the
 * others serve only `serve` and sigstore policies.
 */
export async function buildCli(outdir: string): Promise<void> {
  const cli = join(outdir, 'cli');
  await rm(cli, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: ['src/cli/main.ts'],
    outdir: cli,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    packages: 'external',
    // Fewer bytes to read, hash (compile cache) and parse; identifiers are kept for stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    chunkNames: 'chunks/[name]-[hash]',
    logLevel: 'warning',
  });
}

/** Compiles the library exports (dist/src/image, dist/src/policy) with their declarations. */
async function buildLibrary(outdir: string): Promise<void> {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', outdir], {
    cwd: root,
  });
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const outdir = resolve(root, args.find((a) => !a.startsWith('--')) ?? 'dist');
  await Promise.all([buildCli(outdir), args.includes('--cli-only') ? undefined : buildLibrary(outdir)]);
}
