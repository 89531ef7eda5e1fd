// Benchmarks of the docker transport on a loopback Distribution registry:
//  1. `portcullis inspect` vs `skopeo inspect` wall time (median of N process runs);
//  2. in-process tag->digest resolution throughput vs a bare undici HEAD loop (same registry,
//     same concurrency, same run), as a ratio.
// Run: node_modules/.bin/node test/bench/docker.bench.ts [runs=15] [seconds=5] [concurrency=8]
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { main } from '../../src/cli/main.ts';
import { closeAllAgents, RegistryClient } from '../../src/image/transports/docker/index.ts';
import { startRegistry } from '../helpers/registry.ts';
import { syntheticImage, writeOciLayout } from '../helpers/synthetic-image.ts';

const run = promisify(execFile);
const runs = Number(process.argv[2] ?? 15);
const seconds = Number(process.argv[3] ?? 5);
const concurrency = Number(process.argv[4] ?? 8);
const bin = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function timeRuns(cmd: string, args: string[]): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await run(cmd, args, { maxBuffer: 16 << 20 });
    times.push(performance.now() - t0);
  }
  return times;
}

/** Runs `op` from `concurrency` workers for `seconds`; returns operations per second. */
async function throughput(op: () => Promise<void>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await op();
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

const registry = await startRegistry();
const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-'));
try {
  const conf = join(dir, 'registries.conf');
  await writeFile(conf, '');
  const layout = join(dir, 'layout');
  await writeOciLayout(layout, syntheticImage(), 'v1');
  const image = `docker://${registry.host}/bench/img:v1`;
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:v1`, image]);

  // warm up both (page cache, registry)
  await run('skopeo', ['inspect', '--tls-verify=false', image]);
  await run(process.execPath, [bin, 'inspect', '--tls-verify=false', '--registries-conf', conf, image]);
  const skopeoTimes = await timeRuns('skopeo', ['inspect', '--tls-verify=false', image]);
  const ourTimes = await timeRuns(process.execPath, [
    bin,
    'inspect',
    '--tls-verify=false',
    '--registries-conf',
    conf,
    image,
  ]);
  const startup = await timeRuns(process.execPath, ['-e', '0']);
  const cliStartup = await timeRuns(process.execPath, [bin, '--version']);
  // The same command in this process: the library's share of the work, without module loading.
  const inProcess: number[] = [];
  const sink = new PassThrough();
  sink.resume();
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const code = await main(['inspect', '--tls-verify=false', '--registries-conf', conf, image], {
      stdout: sink,
      stderr: sink,
      stdin: new PassThrough(),
      env: {},
    });
    if (code !== 0) throw new Error(`in-process inspect exited ${code}`);
    inProcess.push(performance.now() - t0);
  }
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  console.log(`inspect (median of ${runs} runs, one image on a loopback registry)`);
  console.log(`  skopeo inspect      ${ms(median(skopeoTimes))}`);
  console.log(
    `  portcullis inspect  ${ms(median(ourTimes))}  (${(median(ourTimes) / median(skopeoTimes)).toFixed(2)}x skopeo)`,
  );
  console.log(`  node -e 0           ${ms(median(startup))}  (bare Node start-up, for reference)`);
  console.log(`  portcullis --version ${ms(median(cliStartup))}  (CLI start-up: loading every command)`);
  console.log(
    `  inspect in-process  ${ms(median(inProcess))}  (no module loading; fresh connections each run)`,
  );

  const url = `${registry.url}/v2/bench/img/manifests/v1`;
  const accept =
    'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 32, pipelining: 1 });
  const bare = async () => {
    const res = await request(url, { method: 'HEAD', dispatcher: agent, headers: { accept } });
    await res.body.dump();
    if (res.headers['docker-content-digest'] === undefined) throw new Error('no digest');
  };
  const client = new RegistryClient({ registry: registry.host, insecure: true, tls: { verify: true } });
  const ours = async () => {
    await client.resolveDigest('bench/img', 'v1');
  };
  await throughput(bare); // warm-up
  await throughput(ours);
  // Interleaved rounds: the machine is shared, so load drifts during the run.
  const bareRates: number[] = [];
  const ourRates: number[] = [];
  for (let round = 0; round < 3; round++) {
    bareRates.push(await throughput(bare));
    ourRates.push(await throughput(ours));
  }
  const bareRate = median(bareRates);
  const ourRate = median(ourRates);
  console.log(
    `tag->digest resolution (${concurrency} concurrent, median of 3 interleaved ${seconds} s rounds, same registry)`,
  );
  console.log(`  bare undici HEAD loop     ${bareRate.toFixed(0)} /s`);
  console.log(
    `  RegistryClient.resolveDigest ${ourRate.toFixed(0)} /s  (ratio ${(ourRate / bareRate).toFixed(3)})`,
  );
  await agent.close();
} finally {
  await closeAllAgents();
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
}
