// Cost of the registry configuration per image: registries.conf (with the machine's drop-ins, as
// the webhook and every command load it) kept in memory and re-validated by stat, against
// reading and parsing it again (forced by touching the file before each load).
// Run: node_modules/.bin/node test/bench/config-files.bench.ts [iterations=20000]
import { copyFile, mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRegistriesConf } from '../../src/image/registries/registries-conf.ts';

const iterations = Number(process.argv[2] ?? 20_000);
const dir = await mkdtemp(join(tmpdir(), 'portcullis-config-bench-'));
const conf = join(dir, 'registries.conf');
// The Debian default: a commented registries.conf plus the shortnames.conf drop-in of aliases.
await copyFile('/etc/containers/registries.conf', conf);
const where = { explicitPath: conf, env: {}, home: dir };
const loaded = await loadRegistriesConf(where);

async function perLoad(n: number, before?: (i: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    await before?.(i);
    await loadRegistriesConf(where);
  }
  return ((performance.now() - started) * 1000) / n;
}

const cached = await perLoad(iterations);
const reread = await perLoad(Math.max(1, iterations / 20), (i) => utimes(conf, i, i));
console.log(
  `registries.conf from ${loaded.files.length} files, ${Object.keys(loaded.aliases).length} aliases`,
);
console.log(`cached, validated by stat   ${cached.toFixed(1)} µs per image`);
console.log(`read and parsed again       ${reread.toFixed(1)} µs per image`);
await rm(dir, { recursive: true, force: true });
