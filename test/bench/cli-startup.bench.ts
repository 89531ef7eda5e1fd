// CLI start-up against skopeo, in one interleaved run (the machine is shared, so load drifts):
// `--version`, `inspect docker://` vs `skopeo inspect`, and `policy eval` vs `skopeo copy --policy`
// of a small GPG-signed image on a loopback registry. Each checkout is run from src/ (bin/, type
// stripping) and, where it has a compiled dist/ (`npx tsc -p tsconfig.build.json`), as the
// published package runs (bin/ and dist/, no src/), with and without Node's compile cache.
// Run: node_modules/.bin/node test/bench/cli-startup.bench.ts [runs=15] [baseline-checkout ...]
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { closeAllAgents } from '../../src/image/transports/docker/index.ts';
import { dockerTestEnv } from '../helpers/docker-env.ts';
import { startRegistry } from '../helpers/registry.ts';
import { gnupgHome } from '../image/signature/gnupg.ts';
import { signedImage } from './signed-image.ts';

const run = promisify(execFile);
const runs = Number(process.argv[2] ?? 15);
const here = fileURLToPath(new URL('../..', import.meta.url));
const checkouts = [here, ...process.argv.slice(3).map((p) => resolve(p))];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface Runner {
  readonly label: string;
  readonly argv: readonly string[]; // the CLI (an executable), before its own arguments
  readonly env: Readonly<Record<string, string>>;
}

const work = await mkdtemp(join(tmpdir(), 'portcullis-bench-'));
/** A published package's layout for one checkout: its bin/portcullis.js and dist/, but no src/. */
async function packageLayout(root: string, name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(join(dir, 'bin'), { recursive: true });
  await copyFile(join(root, 'bin/portcullis.js'), join(dir, 'bin/portcullis.js'));
  await symlink(join(root, 'dist'), join(dir, 'dist'));
  return join(dir, 'bin/portcullis.js');
}
const noCache = { NODE_DISABLE_COMPILE_CACHE: '1' };
const runners: Runner[] = [];
for (const [i, root] of checkouts.entries()) {
  const name = i === 0 ? 'this' : `base${checkouts.length > 2 ? i : ''}`;
  const src = [join(root, 'bin/portcullis.js')];
  runners.push({ label: `${name} src`, argv: src, env: {} });
  runners.push({ label: `${name} src, no compile cache`, argv: src, env: noCache });
  if (existsSync(join(root, 'dist/src/cli/main.js'))) {
    const dist = [await packageLayout(root, name)];
    runners.push({ label: `${name} dist`, argv: dist, env: {} });
    runners.push({ label: `${name} dist, no compile cache`, argv: dist, env: noCache });
  }
}

const registry = await startRegistry();
const env = await dockerTestEnv();
const home = await gnupgHome();
try {
  const fpr = await home.generate('Bench <bench@example.com>', 'rsa2048');
  const keyFile = join(work, 'pub.gpg');
  await writeFile(keyFile, await home.exportPublic(fpr));
  const signed = await signedImage(work, registry, env, home, fpr, keyFile);
  const { name, policyEvalArgs } = signed;
  const runEnv = { ...process.env, ...signed.env };
  const out = join(work, 'copy');

  interface Case {
    readonly label: string;
    readonly once: () => Promise<unknown>;
    readonly times: number[];
  }
  const cases: Case[] = [];
  const add = (label: string, once: () => Promise<unknown>) => cases.push({ label, once, times: [] });
  add('skopeo inspect', () => run('skopeo', ['inspect', '--tls-verify=false', name], { env: runEnv }));
  add('skopeo copy --policy (signedBy, lookaside)', async () => {
    await rm(out, { recursive: true, force: true });
    await run('skopeo', signed.skopeoCopyArgs(out), { env: runEnv });
  });
  for (const r of runners) {
    // bin/portcullis.js run as users run it (`portcullis`, `npx portcullis`): through its shebang,
    // which passes Node flags, with this Node first on PATH.
    const ours = (args: string[]) => () =>
      run(r.argv[0]!, [...r.argv.slice(1), ...args], {
        env: { ...runEnv, ...r.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}` },
        maxBuffer: 16 << 20,
      });
    add(`${r.label}: --version`, ours(['--version']));
    add(
      `${r.label}: inspect`,
      ours(['inspect', '--tls-verify=false', '--registries-conf', env.ctx.registriesConfPath!, name]),
    );
    add(`${r.label}: policy eval`, ours([...policyEvalArgs]));
  }
  for (const c of cases) await c.once(); // warm-up: page cache, compile caches, registry
  for (let i = 0; i < runs; i++) {
    for (const c of cases) {
      const t0 = performance.now();
      await c.once();
      c.times.push(performance.now() - t0);
    }
  }
  const skopeoInspect = median(cases[0]!.times);
  const skopeoCopy = median(cases[1]!.times);
  console.log(`median of ${runs} interleaved runs; load ${loadavg().join(' ')}`);
  for (const c of cases) {
    const m = median(c.times);
    const vs = c.label.endsWith(': inspect')
      ? `  ${(m / skopeoInspect).toFixed(2)}x skopeo inspect`
      : c.label.endsWith(': policy eval')
        ? `  ${(m / skopeoCopy).toFixed(2)}x skopeo copy --policy`
        : '';
    console.log(`  ${c.label.padEnd(48)} ${m.toFixed(0).padStart(6)} ms${vs}`);
  }
} finally {
  await closeAllAgents();
  await home.remove();
  await env.cleanup();
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
