// Copy benchmarks, Portcullis next to skopeo 1.9.3 on the same work in the same run:
// a synthetic 12-layer image of 384 MiB incompressible data, oci: -> dir:, oci: -> oci:,
// registry -> oci:/dir:/registry, and sync of a 50-tag repository. Wall time and peak RSS of
// each process (GNU time). Run: node_modules/.bin/node test/bench/copy.bench.ts [--runs N]
// [--only SUBSTRING] (scenarios whose name contains it) [--baseline DIR] (another checkout's
// bin/portcullis.js measured in the same interleaved runs, for A/B comparisons).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createGzip, gzipSync } from 'node:zlib';
import { Digester, digestOf } from '../../src/image/digest.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';

const exec = promisify(execFile);
const node = process.execPath;
const cli = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
const LAYERS = 12;
const LAYER_BYTES = 32 * 1024 * 1024;
const SYNC_TAGS = 50;
function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}
const runs = Number(flag('--runs') ?? 2) || 2;
const only = flag('--only');
const baselineDir = flag('--baseline');
const baselineCli = baselineDir === undefined ? undefined : join(baselineDir, 'bin', 'portcullis.js');
type Tool = 'ours' | 'baseline' | 'skopeo';
const tools: readonly Tool[] =
  baselineCli === undefined ? ['skopeo', 'ours'] : ['skopeo', 'baseline', 'ours'];

interface Measure {
  readonly seconds: number;
  readonly maxRssMiB: number;
}

async function timed(cmd: string, args: readonly string[]): Promise<Measure> {
  const { stderr } = await exec('/usr/bin/time', ['-f', 'BENCH %e %M', cmd, ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const m = /BENCH ([\d.]+) (\d+)\s*$/.exec(stderr);
  if (m === null) throw new Error(`no timing in: ${stderr.slice(-500)}`);
  return { seconds: Number(m[1]), maxRssMiB: Number(m[2]) / 1024 };
}

/** A layer: a tar holding one file of random bytes, gzip level 1 (random data does not shrink). */
async function writeLayer(path: string): Promise<{ digest: string; size: number; diffID: string }> {
  const header = Buffer.alloc(512);
  header.write('payload', 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${LAYER_BYTES.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  header.fill(32, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const diff = new Digester();
  const blob = new Digester();
  const gzip = createGzip({ level: 1 });
  const out = createWriteStream(path);
  gzip.on('data', (c: Buffer) => blob.update(c));
  gzip.pipe(out);
  const write = (b: Buffer) => {
    diff.update(b);
    return new Promise<void>((resolve) => (gzip.write(b) ? resolve() : gzip.once('drain', resolve)));
  };
  await write(header);
  for (let left = LAYER_BYTES; left > 0; left -= 1 << 20) await write(randomBytes(Math.min(1 << 20, left)));
  await write(Buffer.alloc(1024));
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
  });
  gzip.end();
  await done;
  return { digest: blob.digest(), size: blob.size, diffID: diff.digest() };
}

async function buildLayout(dir: string, layers: number, name: string): Promise<string> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const descs = [];
  for (let i = 0; i < layers; i++) {
    const tmp = join(blobs, `tmp-${i}`);
    const l = await writeLayer(tmp);
    await exec('mv', [tmp, join(blobs, l.digest.slice(7))]);
    descs.push(l);
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: descs.map((d) => d.diffID) },
    }),
  );
  await writeFile(join(blobs, digestOf(config).slice(7)), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: digestOf(config),
        size: config.length,
      },
      layers: descs.map((d) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: d.digest,
        size: d.size,
      })),
    }),
  );
  await writeFile(join(blobs, digestOf(manifest).slice(7)), manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: digestOf(manifest),
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': name },
        },
      ],
    }),
  );
  return `oci:${dir}:${name}`;
}

interface Scenario {
  readonly name: string;
  /**
   * argv after `portcullis` / `skopeo --insecure-policy`, for a fresh destination `n`; `dest` is a
   * registry started for this one measurement, so skopeo's persistent blob-info cache (which would
   * let it mount blobs pushed by an earlier run) cannot help it.
   */
  readonly args: (tool: Tool, n: number, dest: string) => string[];
  readonly needsDestRegistry?: boolean;
  /** false for the one scenario that copies the small tags rather than the big image. */
  readonly usesBigImage?: boolean;
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'copy-bench-'));
  const registries: TestRegistry[] = [];
  try {
    const syncWanted = only === undefined || `sync ${SYNC_TAGS} tags`.includes(only);
    const a = await startRegistry();
    registries.push(a);
    // The big image, built when the first scenario copying it runs (not for sync alone).
    let src = '';
    const buildBig = async () => {
      process.stdout.write(`building ${LAYERS} x ${LAYER_BYTES / 2 ** 20} MiB image...\n`);
      src = await buildLayout(join(root, 'src'), LAYERS, 'big');
      await exec('skopeo', [
        '--insecure-policy',
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        src,
        `docker://${a.host}/bench/big:v1`,
      ]);
    };
    if (syncWanted) process.stdout.write(`pushing ${SYNC_TAGS} small tags...\n`);
    for (let i = 0; syncWanted && i < SYNC_TAGS; i++) {
      const small = await buildSmall(join(root, `small-${i}`));
      await exec('skopeo', [
        '--insecure-policy',
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        small,
        `docker://${a.host}/bench/many:t${i}`,
      ]);
    }
    const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
    const dest = (tool: string, n: number, what: string) => join(root, `${tool}-${what}-${n}`);
    const scenarios: Scenario[] = [
      { name: 'oci: -> dir:', args: (t, n) => ['copy', '--quiet', src, `dir:${dest(t, n, 'dir')}`] },
      { name: 'oci: -> oci:', args: (t, n) => ['copy', '--quiet', src, `oci:${dest(t, n, 'oci')}:x`] },
      {
        name: 'registry -> oci:',
        args: (t, n) => [
          'copy',
          '--quiet',
          ...tls,
          `docker://${a.host}/bench/big:v1`,
          `oci:${dest(t, n, 'roci')}:x`,
        ],
      },
      {
        name: 'registry -> dir:',
        args: (t, n) => [
          'copy',
          '--quiet',
          ...tls,
          `docker://${a.host}/bench/big:v1`,
          `dir:${dest(t, n, 'rdir')}`,
        ],
      },
      {
        name: 'registry -> registry',
        args: (t, n, b) => [
          'copy',
          '--quiet',
          ...tls,
          `docker://${a.host}/bench/big:v1`,
          `docker://${b}/${t}${n}/big:v1`,
        ],
        needsDestRegistry: true,
      },
      {
        name: `sync ${SYNC_TAGS} tags`,
        args: (t, n, b) => [
          'sync',
          ...tls,
          '--src',
          'docker',
          '--dest',
          'docker',
          `${a.host}/bench/many`,
          `${b}/sync-${t}${n}`,
        ],
        needsDestRegistry: true,
        usesBigImage: false,
      },
    ];
    const rows: string[] = [];
    for (const s of scenarios) {
      if (only !== undefined && !s.name.includes(only)) continue;
      if (s.usesBigImage !== false && src === '') await buildBig();
      const all = Object.fromEntries(tools.map((t) => [t, [] as number[]])) as Record<Tool, number[]>;
      const best = Object.fromEntries(tools.map((t) => [t, { seconds: Infinity, maxRssMiB: 0 }])) as Record<
        Tool,
        Measure
      >;
      for (let n = 0; n < runs; n++) {
        for (const tool of tools) {
          const destRegistry = s.needsDestRegistry ? await startRegistry() : undefined;
          const args = s.args(tool, n, destRegistry?.host ?? '');
          let m: Measure;
          try {
            m =
              tool === 'skopeo'
                ? await timed('skopeo', ['--insecure-policy', ...args])
                : await timed(node, [tool === 'ours' ? cli : (baselineCli as string), ...args]);
          } finally {
            await destRegistry?.stop();
          }
          process.stdout.write(
            `  ${s.name} #${n} ${tool}: ${m.seconds.toFixed(2)} s, ${m.maxRssMiB.toFixed(0)} MiB (load ${loadavg()[0]?.toFixed(2)})\n`,
          );
          all[tool].push(m.seconds);
          best[tool] = {
            seconds: Math.min(best[tool].seconds, m.seconds),
            maxRssMiB: Math.max(best[tool].maxRssMiB, m.maxRssMiB),
          };
          await rm(dest(tool, n, ''), { recursive: true, force: true });
          for (const what of ['dir', 'oci', 'roci', 'rdir'])
            await rm(dest(tool, n, what), { recursive: true, force: true });
        }
      }
      const cell = (m: Measure) =>
        `${m.seconds.toFixed(2).padStart(6)} s | ${m.maxRssMiB.toFixed(0).padStart(4)} MiB`;
      const extra = baselineCli === undefined ? '' : ` ${cell(best.baseline)} |`;
      rows.push(
        `| ${s.name.padEnd(20)} | ${cell(best.ours)} | ${cell(best.skopeo)} | ${(best.skopeo.seconds / best.ours.seconds).toFixed(2)}x | ${(median(all.skopeo) / median(all.ours)).toFixed(2)}x |${extra}`,
      );
      process.stdout.write(`${rows.at(-1)}\n`);
    }
    process.stdout.write(
      `\nbest of ${runs} runs, peak RSS = max over runs; image ${LAYERS} layers, ${(LAYERS * LAYER_BYTES) / 2 ** 20} MiB random data\n` +
        `| scenario             | portcullis | RSS      | skopeo 1.9.3 | RSS    | speed-up | of medians |${baselineCli === undefined ? '' : ' baseline | RSS |'}\n` +
        `|----------------------|-----------|----------|-----------|----------|----------|------------|${baselineCli === undefined ? '' : '----------|-----|'}\n` +
        `${rows.join('\n')}\n`,
    );
  } finally {
    for (const r of registries) await r.stop();
    await rm(root, { recursive: true, force: true });
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A one-layer 1 MiB image for the sync scenario. */
async function buildSmall(dir: string): Promise<string> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const tar = Buffer.concat([Buffer.alloc(512), randomBytes(1 << 20), Buffer.alloc(1024)]);
  const layer = gzipSync(tar, { level: 1 });
  await writeFile(join(blobs, digestOf(layer).slice(7)), layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
    }),
  );
  await writeFile(join(blobs, digestOf(config).slice(7)), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: digestOf(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: digestOf(layer),
          size: layer.length,
        },
      ],
    }),
  );
  await writeFile(join(blobs, digestOf(manifest).slice(7)), manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: digestOf(manifest),
          size: manifest.length,
        },
      ],
    }),
  );
  return `oci:${dir}:`;
}

await main();
