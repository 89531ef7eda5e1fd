// Mirroring benchmark: 50 tags, each GPG-signed (lookaside) and cosign-signed (attachment), synced
// between two loopback registries by Portcullis `sync` and by skopeo 1.9.3 `sync` on the same data,
// both reading and writing signatures through the same registries.d; wall time of each process
// (GNU time), a fresh destination per run, then a second, no-op sync into the same destination.
// Run: node_modules/.bin/node test/bench/mirror.bench.ts [--runs N]
import { execFile } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type MirrorFixture, startMirrorFixture } from '../helpers/mirror-fixture.ts';

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
const TAGS = 50;
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] ?? 2) || 2;

async function timed(f: MirrorFixture, cmd: string, args: readonly string[]): Promise<number> {
  const { stderr } = await exec('/usr/bin/time', ['-f', 'BENCH %e', cmd, ...args], {
    env: f.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  const m = /BENCH ([\d.]+)\s*$/.exec(stderr);
  if (m === null) throw new Error(`no timing in: ${stderr.slice(-500)}`);
  return Number(m[1]);
}

/** Lookaside signature folders and cosign attachment tags written under `repo` at the mirror. */
async function signaturesAt(f: MirrorFixture, repo: string): Promise<{ gpg: number; cosign: number }> {
  const path = repo.slice(0, repo.lastIndexOf('/'));
  const name = repo.slice(repo.lastIndexOf('/') + 1);
  const gpg = (await readdir(join(f.mirrorLookaside, path)).catch(() => [] as string[])).filter((d) =>
    d.startsWith(`${name}@`),
  ).length;
  const res = await fetch(`${f.mirror.url}/v2/${repo}/tags/list?n=1000`);
  const tags = ((await res.json()) as { tags?: string[] }).tags ?? [];
  return { gpg, cosign: tags.filter((t) => t.endsWith('.sig')).length };
}

async function main(): Promise<void> {
  const f = await startMirrorFixture();
  try {
    process.stdout.write(`pushing ${TAGS} GPG- and cosign-signed tags...\n`);
    for (let i = 0; i < TAGS; i++)
      await f.pushCosignSigned(`team/many:t${i}`, { attachment: true, gpg: true });
    const yaml = join(f.work, 'bench.yaml');
    const tags = Array.from({ length: TAGS }, (_, i) => `"t${i}"`).join(', ');
    await writeFile(yaml, `${f.origin.host}:\n  tls-verify: false\n  images:\n    team/many: [${tags}]\n`);
    // skopeo takes its global flags (--registries.d) after the subcommand too.
    const tools = {
      portcullis: (dest: string) =>
        timed(f, process.execPath, [cli, ...f.syncArgs(['--quiet', '--insecure-policy'], yaml, dest)]),
      skopeo: (dest: string) => timed(f, 'skopeo', ['--insecure-policy', ...f.syncArgs([], yaml, dest)]),
    };
    const best: Record<string, { first: number; again: number }> = {};
    for (let n = 0; n < runs; n++) {
      for (const [tool, run] of Object.entries(tools)) {
        const dest = `${f.mirror.host}/${tool}${n}`;
        const first = await run(dest);
        const again = await run(dest);
        const carried = await signaturesAt(f, `${tool}${n}/many`);
        if (carried.gpg !== TAGS || carried.cosign !== TAGS)
          throw new Error(
            `${tool}: expected ${TAGS} GPG and ${TAGS} cosign signatures, got ${JSON.stringify(carried)}`,
          );
        const b = best[tool] ?? { first: Infinity, again: Infinity };
        best[tool] = { first: Math.min(b.first, first), again: Math.min(b.again, again) };
        process.stdout.write(`run ${n + 1} ${tool}: ${first.toFixed(2)} s, no-op ${again.toFixed(2)} s\n`);
      }
    }
    const ours = best.portcullis!;
    const theirs = best.skopeo!;
    process.stdout.write(
      `\nsync of ${TAGS} tags with GPG lookaside and cosign attachment signatures, best of ${runs} runs\n` +
        '| sync                   | portcullis | skopeo 1.9.3 | speed-up |\n' +
        '|------------------------|------------|--------------|----------|\n' +
        `| into an empty mirror   | ${ours.first.toFixed(2).padStart(8)} s | ${theirs.first.toFixed(2).padStart(10)} s | ${(theirs.first / ours.first).toFixed(2)}x |\n` +
        `| again (nothing to do)  | ${ours.again.toFixed(2).padStart(8)} s | ${theirs.again.toFixed(2).padStart(10)} s | ${(theirs.again / ours.again).toFixed(2)}x |\n`,
    );
  } finally {
    await f.stop();
  }
}

await main();
