// CLI start-up against skopeo, in one interleaved run (the machine is shared, so load drifts):
// `--version`, `inspect docker://` vs `skopeo inspect`, and `policy eval` vs `skopeo copy --policy`
// of a small GPG-signed image on a loopback registry. This checkout runs from src/ (bin/, type
// stripping) and as the published package runs: bin/ and the bundle `scripts/build.ts` writes to
// dist/cli/, no src/ (built into a temporary directory), with and without Node's compile cache.
// A baseline checkout runs from its src/, and from its dist/ if it has one (built beforehand); a
// baseline without src/ (an installed package) runs as it is.
// Wall time and CPU time (user+sys) are medians of the interleaved runs. A floor runs too: Node
// and undici making inspect's requests with no Portcullis code (test/bench/undici-floor.ts).
// Run: node_modules/.bin/node test/bench/cli-startup.bench.ts [runs=15] [baseline-checkout ...]
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildCli, bundle } from '../../scripts/build.ts';
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
/**
 * A published package's layout: `root`'s bin/portcullis.js, a dist/ (`build` writes it, or the
 * checkout's own is linked) and node_modules, but no src/.
 */
async function packageLayout(root: string, name: string, build?: (dist: string) => Promise<void>) {
  const dir = join(work, name);
  await mkdir(join(dir, 'bin'), { recursive: true });
  await copyFile(join(root, 'bin/portcullis.js'), join(dir, 'bin/portcullis.js'));
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'));
  if (build === undefined) await symlink(join(root, 'dist'), join(dir, 'dist'));
  else await build(join(dir, 'dist'));
  return join(dir, 'bin/portcullis.js');
}
const noCache = { NODE_DISABLE_COMPILE_CACHE: '1' };
const runners: Runner[] = [];
for (const [i, root] of checkouts.entries()) {
  const name = i === 0 ? 'this' : `base${checkouts.length > 2 ? i : ''}`;
  const src = [join(root, 'bin/portcullis.js')];
  if (!existsSync(join(root, 'src'))) {
    // an installed package (e.g. another build's layout): run as it is
    runners.push({ label: `${name} package`, argv: src, env: {} });
    continue;
  }
  runners.push({ label: `${name} src`, argv: src, env: {} });
  const published =
    i === 0
      ? { label: 'bundle', bin: await packageLayout(root, name, buildCli) }
      : existsSync(join(root, 'dist/src/cli/main.js'))
        ? { label: 'dist', bin: await packageLayout(root, name) }
        : undefined;
  if (published !== undefined) {
    runners.push({ label: `${name} ${published.label}`, argv: [published.bin], env: {} });
    runners.push({
      label: `${name} ${published.label}, no compile cache`,
      argv: [published.bin],
      env: noCache,
    });
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
    readonly argv: readonly string[];
    readonly env: Readonly<Record<string, string | undefined>>;
    readonly before?: () => Promise<unknown>;
    readonly wall: number[];
    readonly cpu: number[];
  }
  const cases: Case[] = [];
  const add = (label: string, argv: readonly string[], env = runEnv, before?: () => Promise<unknown>) =>
    cases.push({ label, argv, env, ...(before === undefined ? {} : { before }), wall: [], cpu: [] });
  // Runs a command and prints its wall and CPU time (user+sys) in seconds, from bash's `time`
  // (millisecond resolution; /usr/bin/time rounds CPU time to 10 ms).
  const timer = [
    'bash',
    '-c',
    'TIMEFORMAT="%3R %3U %3S"; { time "$@" >/dev/null 2>/dev/null; } 2>&1; exit $?',
    'timer',
  ];
  /** Runs the case once; returns [wall ms, user+sys ms]. */
  async function once(c: Case): Promise<[number, number]> {
    await c.before?.();
    const { stdout } = await run(timer[0]!, [...timer.slice(1), ...c.argv], { env: c.env });
    const [wall, user, sys] = stdout.trim().split(' ').map(Number);
    return [wall! * 1000, (user! + sys!) * 1000];
  }
  add('skopeo inspect', ['skopeo', 'inspect', '--tls-verify=false', name]);
  // What no change to Portcullis can remove: Node and the libraries doing the commands' work alone.
  const floorDir = join(work, 'floor');
  await bundle('test/bench/undici-floor.ts', floorDir);
  await symlink(join(here, 'node_modules'), join(floorDir, 'node_modules')); // openpgp: external
  const [host, ...path] = name.slice('docker://'.length).split('/');
  const [repo, tag] = path.join('/').split(':') as [string, string];
  const floor = [process.execPath, join(floorDir, 'undici-floor.js')];
  add("floor: Node + undici, inspect's 5 requests", [...floor, 'inspect', host!, repo, tag]);
  add('skopeo copy --policy (signedBy, lookaside)', ['skopeo', ...signed.skopeoCopyArgs(out)], runEnv, () =>
    rm(out, { recursive: true, force: true }),
  );
  add('floor: Node + undici + openpgp, verify', [
    ...floor,
    'verify',
    host!,
    repo,
    tag,
    signed.keyFile,
    signed.signatureFile,
  ]);
  for (const r of runners) {
    // bin/portcullis.js run as users run it (`portcullis`, `npx portcullis`): through its shebang,
    // which passes Node flags, with this Node first on PATH.
    const ours = (label: string, args: readonly string[]) =>
      add(`${r.label}: ${label}`, [...r.argv, ...args], {
        ...runEnv,
        ...r.env,
        PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`,
      });
    ours('--version', ['--version']);
    ours('inspect', [
      'inspect',
      '--tls-verify=false',
      '--registries-conf',
      env.ctx.registriesConfPath!,
      name,
    ]);
    ours('policy eval', policyEvalArgs);
  }
  for (const c of cases) await once(c); // warm-up: page cache, compile caches, registry
  const load = [loadavg()[0]!];
  for (let i = 0; i < runs; i++) {
    for (const c of cases) {
      const [wall, cpu] = await once(c);
      c.wall.push(wall);
      c.cpu.push(cpu);
    }
    load.push(loadavg()[0]!);
  }
  const medianOf = (label: string) => median(cases.find((c) => c.label.startsWith(label))!.wall);
  const skopeoInspect = medianOf('skopeo inspect');
  const skopeoCopy = medianOf('skopeo copy --policy');
  console.log(
    `medians of ${runs} interleaved runs; 1-min load average ${Math.min(...load).toFixed(1)}-${Math.max(...load).toFixed(1)}`,
  );
  console.log(`  ${''.padEnd(48)} ${'wall'.padStart(6)}    ${'cpu'.padStart(6)}`);
  for (const c of cases) {
    const m = median(c.wall);
    const vs = /: inspect$|^floor.*inspect/.test(c.label)
      ? `  ${(m / skopeoInspect).toFixed(2)}x skopeo inspect`
      : /: policy eval$|^floor.*verify$/.test(c.label)
        ? `  ${(m / skopeoCopy).toFixed(2)}x skopeo copy --policy`
        : '';
    const cpu = median(c.cpu);
    console.log(
      `  ${c.label.padEnd(48)} ${m.toFixed(0).padStart(6)} ms ${cpu.toFixed(0).padStart(6)} ms${vs}`,
    );
  }
} finally {
  await closeAllAgents();
  await home.remove();
  await env.cleanup();
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
