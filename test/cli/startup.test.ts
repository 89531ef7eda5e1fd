// What each command loads at start-up: the CLI's speed against skopeo depends on commands not
// loading libraries they do not use (test/bench/cli-startup.bench.ts measures the time itself);
// and the published form (bin/ and the esbuild bundle in dist/cli/, no src/) against src/.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { closeAllAgents } from '../../src/image/transports/docker/index.ts';
import { type SignedImage, signedImage } from '../bench/signed-image.ts';
import { type DockerTestEnv, dockerTestEnv } from '../helpers/docker-env.ts';
import { publishedCli } from '../helpers/published.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { type GnupgHome, gnupgHome } from '../image/signature/gnupg.ts';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
const hook = fileURLToPath(new URL('../helpers/load-trace.ts', import.meta.url));

/**
 * Runs bin/portcullis.js as users do, through its shebang with Node 24 first on PATH; returns
 * the Node flags it ran with and the file URLs of the modules it loaded.
 */
async function traced(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
  cli = bin,
) {
  const trace = join(work, `trace-${Math.random().toString(36).slice(2)}`);
  const { stdout } = await run(cli, argv, {
    env: {
      ...process.env,
      ...env,
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`,
      NODE_OPTIONS: `--import=${JSON.stringify(hook)}`,
      PORTCULLIS_LOAD_TRACE: trace,
    },
  });
  const [head, ...urls] = (await readFile(trace, 'utf8')).split('\n');
  const { flags, tagAtStart, tagAtExit } = JSON.parse(head!) as {
    flags: string[];
    tagAtStart: number;
    tagAtExit: number;
  };
  return { flags, tagAtStart, tagAtExit, loaded: urls.filter((u) => u.startsWith('file:')), stdout };
}
const loadedBy = async (
  argv: readonly string[],
  env?: Readonly<Record<string, string | undefined>>,
  cli?: string,
) => (await traced(argv, env, cli)).loaded;

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

/**
 * Whether one of the loaded bundle chunks holds `file`: esbuild names each bundled file by its
 * path from the working directory (through `../` where node_modules is a symlink out of it).
 */
async function bundles(urls: readonly string[], file: string): Promise<boolean> {
  const chunks = urls.filter((u) => u.includes('/dist/cli/'));
  const texts = await Promise.all(chunks.map((u) => readFile(new URL(u), 'utf8')));
  return texts.some((t) => t.includes(`/${file}"`) || t.includes(`"${file}"`));
}

// Libraries only the webhook, copy/sync signing or other signature types need.
const heavy = [
  'sigstore',
  '@sigstore/verify',
  '@sigstore/sign',
  // CEL: only a policy with sigstoreAttested conditions loads it.
  '@bufbuild/cel',
  'fastify',
  '@kubernetes/client-node',
  'pino',
];

let work: string;
let registry: TestRegistry;
let env: DockerTestEnv;
let home: GnupgHome;
let image: SignedImage;
const inspectArgs = () => [
  'inspect',
  '--tls-verify=false',
  '--registries-conf',
  env.ctx.registriesConfPath!,
  image.name,
];

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
  it("runs with no V8 flag (any flag costs Node's own modules their code cache)", async () => {
    assert.deepEqual((await traced(['--version'])).flags, []);
  });

  it("inspect leaves V8's flags as it found them, so code caches still match", async () => {
    const { tagAtStart, tagAtExit, stdout } = await traced(inspectArgs(), image.env);
    assert.ok(stdout.includes('"Digest"'));
    assert.equal(tagAtExit, tagAtStart);
  });

  it("inspect keeps undici's parser from V8's optimising tier, unless Node's flags set its budget", async () => {
    // With the tier-up, exit waits for a background compile longer than the whole command.
    const optimised = async (nodeFlags: readonly string[]) => {
      const { stdout } = await run(
        process.execPath,
        ['--trace-wasm-compilation-times', ...nodeFlags, bin, ...inspectArgs()],
        { env: { ...process.env, ...image.env } },
      );
      return stdout.split('\n').filter((l) => l.includes('using TurboFan'));
    };
    // A first run fills Node's compile cache; until then Node's own WebAssembly (type stripping,
    // the CommonJS export lexer) runs and may tier up too.
    await optimised([]);
    assert.deepEqual(await optimised([]), []);
    // the same work with V8's default budget given explicitly tiers up: the check above can fail
    assert.notDeepEqual(await optimised(['--wasm-tiering-budget=13000000']), []);
  });

  it('--version loads no package and a handful of modules', async () => {
    const loaded = await loadedBy(['--version']);
    assert.deepEqual([...packages(loaded)], []);
    assert.ok(loaded.length <= 8, `--version loaded ${loaded.length} modules:\n${loaded.join('\n')}`);
  });

  it('inspect docker:// loads undici deep modules only, and no signature or server library', async () => {
    const loaded = packages(await loadedBy(inspectArgs(), image.env));
    assert.ok(loaded.has('undici'));
    for (const p of [...heavy, 'openpgp', 'yaml', 'undici/index.js'])
      assert.ok(!loaded.has(p), `loaded ${p}`);
  });

  it('policy eval of a GPG-signed image loads openpgp, and no sigstore or server library', async () => {
    const loaded = packages(await loadedBy(image.policyEvalArgs, image.env));
    assert.ok(loaded.has('openpgp'));
    for (const p of [...heavy, 'undici/index.js']) assert.ok(!loaded.has(p), `loaded ${p}`);
  });

  it('copy without signature checks loads no sigstore or openpgp module', async () => {
    const loaded = packages(
      await loadedBy(
        [
          'copy',
          '--insecure-policy',
          '--src-tls-verify=false',
          '--registries-conf',
          env.ctx.registriesConfPath!,
          image.name,
          `dir:${join(work, 'copied')}`,
        ],
        image.env,
      ),
    );
    assert.ok(loaded.has('undici'));
    for (const p of [...heavy, '@sigstore/bundle', '@sigstore/core', 'openpgp'])
      assert.ok(!loaded.has(p), `loaded ${p}`);
  });

  it('policy eval of an insecureAcceptAnything policy loads neither openpgp nor undici', async () => {
    const policy = join(work, 'accept.json');
    await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const args = image.policyEvalArgs.map((a) => (a === image.policy ? policy : a));
    const loaded = packages(await loadedBy(args, image.env));
    for (const p of [...heavy, 'openpgp', 'undici']) assert.ok(!loaded.has(p), `loaded ${p}`);
  });
});

describe('CLI start-up: the published form (bin/ and the bundle, no src/)', () => {
  let published: string;
  before(async () => {
    published = await publishedCli(join(work, 'package'));
  });

  const cases: [string, () => readonly string[]][] = [
    ['--version', () => ['--version']],
    ['inspect docker://', inspectArgs],
    ['policy eval of a GPG-signed image', () => image.policyEvalArgs],
  ];
  for (const [name, args] of cases) {
    it(`${name} prints what the src/ run prints, and loads no src/ module`, async () => {
      const fromSrc = await traced(args(), image.env);
      const fromBundle = await traced(args(), image.env, published);
      assert.equal(fromBundle.stdout, fromSrc.stdout);
      assert.ok(fromBundle.stdout.length > 0);
      assert.deepEqual(
        fromBundle.loaded.filter((u) => u.includes('/src/')),
        [],
      );
      assert.ok(fromBundle.loaded.some((u) => u.includes('/dist/cli/')));
    });
  }

  it('serve through the bundle (what the image runs) answers /healthz', async () => {
    const server = spawn(published, ['serve', '--listen', '127.0.0.1:0'], {
      env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      // The address is printed on stderr, the logs on stdout: either pipe may deliver last.
      let out = '';
      const url = await new Promise<string | undefined>((resolve) => {
        const read = (d: Buffer) => {
          out += d.toString();
          const found = /listening on (https:\/\/\S+)/.exec(out)?.[1];
          if (found !== undefined) resolve(found);
        };
        server.stderr.on('data', read);
        server.stdout.on('data', read);
        server.on('exit', () => resolve(undefined));
      });
      assert.ok(url !== undefined, `serve did not start:\n${out}`);
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        request(`${url}/healthz`, { rejectUnauthorized: false }, (r) => {
          let body = '';
          r.on('data', (d: Buffer) => {
            body += d.toString();
          });
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        })
          .on('error', reject)
          .end();
      });
      assert.deepEqual(res, { status: 200, body: 'ok\n' });
    } finally {
      const exited = once(server, 'exit');
      server.kill('SIGTERM');
      await exited;
    }
  });

  it('the bundle carries the API groups serve and audit call of the Kubernetes client, no other', async () => {
    const dir = join(dirname(dirname(published)), 'dist', 'cli', 'chunks');
    const texts = await Promise.all((await readdir(dir)).map((f) => readFile(join(dir, f), 'utf8')));
    const imported = /(?:from|import\()\s*["']@kubernetes\/client-node/;
    assert.ok(!texts.some((t) => imported.test(t)), 'imported from node_modules');
    assert.ok(texts.some((t) => t.includes('ObservableCoreV1Api=class')));
    assert.ok(!texts.some((t) => t.includes('ObservableStorageV1Api')), 'an API group nothing calls');
  });

  it('inspect through the bundle loads no package: undici is in the bundle', async () => {
    const loaded = await loadedBy(inspectArgs(), image.env, published);
    assert.deepEqual([...packages(loaded)], []);
    assert.ok(
      await bundles(loaded, 'node_modules/undici/lib/dispatcher/agent.js'),
      'undici is not in the bundle',
    );
  });

  it('policy eval through the bundle reads registries.d with the bundled yaml', async () => {
    const loaded = await loadedBy(image.policyEvalArgs, image.env, published);
    assert.ok(!packages(loaded).has('yaml'), 'yaml loaded from node_modules');
    assert.ok(await bundles(loaded, 'node_modules/yaml/dist/index.js'), 'yaml is not in the bundle');
  });

  it('policy eval through the bundle loads openpgp, and no sigstore or server library', async () => {
    const loaded = packages(await loadedBy(image.policyEvalArgs, image.env, published));
    assert.ok(loaded.has('openpgp'));
    for (const p of [...heavy, 'undici/index.js']) assert.ok(!loaded.has(p), `loaded ${p}`);
  });
});
