// Builds the published package: the CLI bundled with esbuild into dist/cli/ (one chunk per command,
// loaded when that command runs), and the library exports compiled by tsc into dist/src/ (with
// declarations). Run: node scripts/build.ts [outdir=dist] [--cli-only]
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type BuildOptions, build, type Plugin } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The packages bundled into the CLI: what `inspect`, `copy` and `policy eval` load on every run,
 * spread over many small files (undici's pool and request modules: 26 files; yaml: 72). Node
 * resolves, reads and wraps each file apart, which costs more than the code itself: bundled, undici
 * loads in ~30 ms instead of ~50 and yaml in ~10 instead of ~30 (load 3, medians of 8). openpgp is
 * one minified file already; the other packages serve only `serve` and sigstore policies, and stay
 * external, loaded by Node from node_modules.
 *
 * The Kubernetes client is bundled for memory instead: its package index loads the generated
 * client of every API group (about 20 MB of JavaScript, whose source V8 keeps resident: 16 MiB of
 * `serve`'s heap); bundled, tree shaking keeps the few groups Portcullis calls.
 */
const BUNDLED: ReadonlySet<string> = new Set([
  'undici/lib/dispatcher/agent.js',
  'undici/lib/api/api-request.js',
  'yaml',
  // registries.conf, which every docker:// command reads (9 files).
  'smol-toml',
  // serve and audit: what they call of the Kubernetes client, without the rest.
  '@kubernetes/client-node',
]);

/** Every bare import is external but those in BUNDLED (relative imports inside them are bundled). */
const externalPackages: Plugin = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      BUNDLED.has(args.path) && args.kind !== 'entry-point' ? undefined : { path: args.path, external: true },
    );
  },
};

/**
 * Bundles src/cli/main.ts into `outdir`/cli/main.js and the chunks it imports lazily. The bundled
 * packages are CommonJS: their require() calls for Node's modules go through a `require` each
 * chunk makes for itself (an ES module has none).
 */
export async function buildCli(outdir: string): Promise<void> {
  const cli = join(outdir, 'cli');
  await rm(cli, { recursive: true, force: true });
  await bundle('src/cli/main.ts', cli, { splitting: true, chunkNames: 'chunks/[name]-[hash]' });
}

/**
 * Bundles `entry` (relative to the repository) into `outdir` as the CLI is bundled: the packages
 * in BUNDLED included, the others external. The CLI start-up benchmark bundles its baseline so.
 */
export async function bundle(entry: string, outdir: string, options: BuildOptions = {}): Promise<void> {
  await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    plugins: [externalPackages],
    banner: {
      js: 'import{createRequire as __portcullisRequire}from"node:module";const require=__portcullisRequire(import.meta.url);',
    },
    // Fewer bytes to read, hash (compile cache) and parse; identifiers are kept for stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
    ...options,
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
