// What each command loads at start-up: the CLI's speed against skopeo depends on commands not
// loading libraries they do not use (test/bench/cli-startup.bench.ts measures the time itself).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { closeAllAgents } from '../../src/image/transports/docker/index.ts';
import { type SignedImage, signedImage } from '../bench/signed-image.ts';
import { type DockerTestEnv, dockerTestEnv } from '../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { type GnupgHome, gnupgHome } from '../image/signature/gnupg.ts';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
const hook = fileURLToPath(new URL('../helpers/load-trace.ts', import.meta.url));

/**
 * Runs bin/portcullis.js as users do, through its shebang with Node 24 first on PATH; returns
 * the Node flags it ran with and the file URLs of the modules it loaded.
 */
async function traced(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}) {
  const trace = join(work, `trace-${Math.random().toString(36).slice(2)}`);
  await run(bin, argv, {
    env: {
      ...process.env,
      ...env,
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`,
      NODE_OPTIONS: `--import=${JSON.stringify(hook)}`,
      PORTCULLIS_LOAD_TRACE: trace,
    },
  });
  const [flags, ...urls] = (await readFile(trace, 'utf8')).split('\n');
  return { flags: JSON.parse(flags!) as string[], loaded: urls.filter((u) => u.startsWith('file:')) };
}
const loadedBy = async (argv: readonly string[], env?: Readonly<Record<string, string | undefined>>) =>
  (await traced(argv, env)).loaded;

/** The packages (node_modules/<name>) among the loaded modules, with `undici/index.js` apart. */
function packages(urls: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const u of urls) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(u);
    if (m === null) continue;
    names.add(m[1]!);
    if (m[1] === 'undici' && m[2] === 'index.js') names.add('undici/index.js');
  }
  return names;
}

// Libraries only the webhook, copy/sync signing or other signature types need.
const heavy = [
  'sigstore',
  '@sigstore/verify',
  '@sigstore/sign',
  'fastify',
  '@kubernetes/client-node',
  'pino',
];

let work: string;
let registry: TestRegistry;
let env: DockerTestEnv;
let home: GnupgHome;
let image: SignedImage;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'portcullis-startup-'));
  registry = await startRegistry();
  env = await dockerTestEnv();
  home = await gnupgHome();
  const fpr = await home.generate('Startup <startup@example.com>', 'ed25519');
  const keyFile = join(work, 'pub.gpg');
  await writeFile(keyFile, await home.exportPublic(fpr));
  image = await signedImage(work, registry, env, home, fpr, keyFile);
});

after(async () => {
  await closeAllAgents();
  await home.remove();
  await env.cleanup();
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

describe('CLI start-up: Node flags and the modules each command loads', () => {
  it("runs with WebAssembly tier-up off (undici's parser would hold the exit back)", async () => {
    assert.ok((await traced(['--version'])).flags.includes('--liftoff-only'));
  });

  it('--version loads no package and a handful of modules', async () => {
    const loaded = await loadedBy(['--version']);
    assert.deepEqual([...packages(loaded)], []);
    assert.ok(loaded.length <= 8, `--version loaded ${loaded.length} modules:\n${loaded.join('\n')}`);
  });

  it('inspect docker:// loads undici deep modules only, and no signature or server library', async () => {
    const loaded = packages(
      await loadedBy(
        ['inspect', '--tls-verify=false', '--registries-conf', env.ctx.registriesConfPath!, image.name],
        image.env,
      ),
    );
    assert.ok(loaded.has('undici'));
    for (const p of [...heavy, 'openpgp', 'yaml', 'undici/index.js'])
      assert.ok(!loaded.has(p), `loaded ${p}`);
  });

  it('policy eval of a GPG-signed image loads openpgp, and no sigstore or server library', async () => {
    const loaded = packages(await loadedBy(image.policyEvalArgs, image.env));
    assert.ok(loaded.has('openpgp'));
    for (const p of [...heavy, 'undici/index.js']) assert.ok(!loaded.has(p), `loaded ${p}`);
  });

  it('policy eval of an insecureAcceptAnything policy loads neither openpgp nor undici', async () => {
    const policy = join(work, 'accept.json');
    await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const args = image.policyEvalArgs.map((a) => (a === image.policy ? policy : a));
    const loaded = packages(await loadedBy(args, image.env));
    for (const p of [...heavy, 'openpgp', 'undici']) assert.ok(!loaded.has(p), `loaded ${p}`);
  });
});
