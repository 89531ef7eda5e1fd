// What keeping undici's WebAssembly HTTP parser out of V8's optimising tier costs a process that
// makes many requests: every CLI command but `serve` does it (expectShortLife() in
// src/image/transports/docker/http.ts), and so did the `--liftoff-only` flag before it. A child
// process makes registry requests through the docker transport's HTTP client to a loopback
// Distribution registry: many small manifest GETs (what a cold admission makes) and a large blob
// GET (what copy makes): by default (as `serve`), held as the CLI holds it, and with the flag,
// alternating for several rounds.
// Run: node_modules/.bin/node test/bench/liftoff.bench.ts [rounds=5] [small=2000] [blob-mib=128]
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { drain, send } from '../../src/image/transports/docker/http.ts';
import { expectShortLife } from '../../src/image/transports/docker/parser-tiering.ts';
import { closeAllAgents, sharedRegistrySession } from '../../src/image/transports/docker/session.ts';
import { startRegistry } from '../helpers/registry.ts';
import { pushWithFetch, syntheticImage } from '../helpers/synthetic-image.ts';

const tls = { verify: false };
const accept = 'application/vnd.oci.image.manifest.v1+json';

/** Child: `small` sequential manifest GETs, then one blob GET; prints its figures as JSON. */
async function client(base: string, blob: string, small: number, held: boolean): Promise<void> {
  if (held) expectShortLife();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < small; i++) {
    const res = await send(
      { method: 'GET', url: `${base}/manifests/v1`, headers: { accept } },
      { agents: sharedRegistrySession().agents, tls },
    );
    await drain(res.body);
  }
  const t1 = performance.now();
  const cpu1 = process.cpuUsage(cpu0);
  const res = await send(
    { method: 'GET', url: `${base}/blobs/${blob}` },
    { agents: sharedRegistrySession().agents, tls },
  );
  let bytes = 0;
  for await (const chunk of res.body) bytes += (chunk as Buffer).length;
  const t2 = performance.now();
  const cpu2 = process.cpuUsage();
  await closeAllAgents();
  const ms = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
  console.log(
    JSON.stringify({
      smallMs: t1 - t0,
      smallCpuMs: ms(cpu1),
      blobMiBps: bytes / (1 << 20) / ((t2 - t1) / 1000),
      blobCpuMs: ms(cpu2) - ms(cpu0) - ms(cpu1),
    }),
  );
}

interface Figures {
  smallMs: number;
  smallCpuMs: number;
  blobMiBps: number;
  blobCpuMs: number;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const small = Number(process.argv[3] ?? 2000);
  const mib = Number(process.argv[4] ?? 128);
  const registry = await startRegistry();
  try {
    const image = syntheticImage({ layers: 1, layerBytes: mib << 20 });
    await pushWithFetch(registry.url, 'bench/big', 'v1', image);
    const base = `${registry.url}/v2/bench/big`;
    const variants: [string, string[], string][] = [
      ['default (serve)', [], 'default'],
      ['held (CLI)', [], 'held'],
      ['--liftoff-only', ['--liftoff-only'], 'default'],
    ];
    const results = variants.map((): Figures[] => []);
    for (let r = 0; r < rounds; r++) {
      for (const [i, [, flags, mode]] of variants.entries()) {
        const { stdout } = await promisify(execFile)(process.execPath, [
          ...flags,
          fileURLToPath(import.meta.url),
          '--client',
          base,
          image.layers[0]!.digest,
          String(small),
          mode,
        ]);
        results[i]!.push(JSON.parse(stdout) as Figures);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `median of ${rounds} alternating rounds; ${small} manifest GETs, one ${mib} MiB blob GET; load ${loadavg()[0]!.toFixed(1)}`,
    );
    console.log(
      `${''.padEnd(18)}${['GETs/s', 'cpu µs/GET', 'blob MiB/s', 'blob cpu ms'].map((h) => h.padStart(13)).join('')}`,
    );
    for (const [i, [name]] of variants.entries()) {
      const fs = results[i]!;
      const cells = [
        (small / (median(fs.map((f) => f.smallMs)) / 1000)).toFixed(0),
        ((median(fs.map((f) => f.smallCpuMs)) * 1000) / small).toFixed(0),
        median(fs.map((f) => f.blobMiBps)).toFixed(0),
        median(fs.map((f) => f.blobCpuMs)).toFixed(0),
      ];
      console.log(`${name.padEnd(18)}${cells.map((c) => c.padStart(13)).join('')}`);
    }
  } finally {
    await registry.stop();
  }
}

if (process.argv[2] === '--client')
  await client(process.argv[3]!, process.argv[4]!, Number(process.argv[5]), process.argv[6] === 'held');
else await main();
