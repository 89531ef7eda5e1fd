// Benchmark: policy evaluations per second in-process for a GPG-signed image whose manifest and
// signatures are in memory, and `standalone-verify` wall time against skopeo on the same files.
// Run: node_modules/.bin/node test/bench/policy-eval.bench.ts
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PolicyEvaluator, parsePolicy, VerificationCache } from '../../src/image/signature/index.ts';
import { conformancePath } from '../helpers/conformance.ts';
import { dockerTestEnv } from '../helpers/docker-env.ts';
import { startRegistry } from '../helpers/registry.ts';
import { gnupgHome } from '../image/signature/gnupg.ts';
import { dockerLikeReference, fixture, memoryImage } from '../image/signature/helpers.ts';
import { signedImage } from './signed-image.ts';

const run = promisify(execFile);
const manifest = await readFile(fixture('image.manifest.json'));
const signature = await readFile(fixture('dir-img-valid/signature-1'));
const keyPath = conformancePath('containers-image/signature/fixtures/public-key.gpg');
const keyData = (await readFile(keyPath)).toString('base64');
const reference = dockerLikeReference('testing/manifest:latest');

async function rate(name: string, evaluator: () => PolicyEvaluator, seconds: number): Promise<number> {
  const image = memoryImage(reference, manifest, [{ format: 'simple-signing', blob: signature }]);
  let n = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const v = await evaluator().evaluate(image);
    if (!v.allowed) throw new Error(`${name}: unexpectedly denied: ${v.reason}`);
    n++;
  }
  const perSecond = n / seconds;
  console.log(`${name.padEnd(58)} ${perSecond.toFixed(0).padStart(8)} evaluations/s`);
  return perSecond;
}

const policy = (keys: Record<string, unknown>) =>
  parsePolicy(
    JSON.stringify({
      default: [{ type: 'signedBy', keyType: 'GPGKeys', ...keys, signedIdentity: { type: 'matchExact' } }],
    }),
  );

console.log('in-process, one core, RSA-3072 signature (upstream fixture), manifest and signature in memory');
const shared = new PolicyEvaluator(policy({ keyData }));
await rate('keyData, verification cache warm', () => shared, 3);
const sharedPath = new PolicyEvaluator(policy({ keyPath }));
await rate('keyPath (file read per evaluation), cache warm', () => sharedPath, 3);
await rate(
  'keyData, no verification cache (crypto every time)',
  () => new PolicyEvaluator(policy({ keyData }), { verificationCache: new VerificationCache({ ttlMs: 0 }) }),
  3,
);

// Wall time of one CLI verification against skopeo's, same manifest, signature and key.
const home = await gnupgHome();
const work = await mkdtemp(join(tmpdir(), 'portcullis-bench-'));
try {
  const fpr = await home.generate('Bench <bench@example.com>', 'rsa2048');
  const m = join(work, 'manifest.json');
  await copyFile(fixture('image.manifest.json'), m);
  const sig = join(work, 'sig');
  await run('skopeo', ['standalone-sign', m, 'example.com/bench:v1', fpr, '-o', sig], { env: home.env });
  const keyFile = join(work, 'pub.gpg');
  await run('sh', ['-c', `gpg --batch --export ${fpr} > ${keyFile}`], { env: home.env });
  const bin = new URL('../../bin/portcullis.js', import.meta.url).pathname;
  const time = async (
    cmd: string,
    args: string[],
    n = 5,
    extraEnv: Record<string, string> = {},
  ): Promise<number> => {
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await run(cmd, args, { env: { ...home.env, ...extraEnv } });
      samples.push(performance.now() - t);
    }
    samples.sort((a, b) => a - b);
    return samples[Math.floor(n / 2)]!;
  };
  const skopeoMs = await time('skopeo', ['standalone-verify', m, 'example.com/bench:v1', fpr, sig]);
  const oursGnupg = await time(process.execPath, [
    bin,
    'standalone-verify',
    m,
    'example.com/bench:v1',
    fpr,
    sig,
  ]);
  const oursFile = await time(process.execPath, [
    bin,
    'standalone-verify',
    '--public-key-file',
    keyFile,
    m,
    'example.com/bench:v1',
    fpr,
    sig,
  ]);
  // The whole module graph in V8's code cache (what bin/portcullis.js could enable for everyone).
  const cached = { NODE_COMPILE_CACHE: join(work, 'compile-cache') };
  const verifyArgs = [
    bin,
    'standalone-verify',
    '--public-key-file',
    keyFile,
    m,
    'example.com/bench:v1',
    fpr,
    sig,
  ];
  await time(process.execPath, verifyArgs, 1, cached);
  const oursCached = await time(process.execPath, verifyArgs, 5, cached);
  console.log('\nstandalone-verify wall time, median of 5 (RSA-2048 key made by gpg, signature by skopeo)');
  console.log(
    `skopeo 1.9.3 (gpgme, GNUPGHOME)                            ${skopeoMs.toFixed(0).padStart(6)} ms`,
  );
  console.log(
    `portcullis (keys exported from GNUPGHOME with gpg)          ${oursGnupg.toFixed(0).padStart(6)} ms`,
  );
  console.log(
    `portcullis --public-key-file                                ${oursFile.toFixed(0).padStart(6)} ms`,
  );
  console.log(
    `portcullis --public-key-file, NODE_COMPILE_CACHE warm       ${oursCached.toFixed(0).padStart(6)} ms`,
  );

  // policy eval against skopeo's policy-checked copy of the same small signed image.
  const registry = await startRegistry();
  const env = await dockerTestEnv();
  try {
    const signed = await signedImage(work, registry, env, home, fpr, keyFile);
    const { policyEvalArgs } = signed;
    const runEnv = signed.env;
    const out = join(work, 'copy');
    const skopeoCopy = async () => {
      await rm(out, { recursive: true, force: true });
      await run('skopeo', signed.skopeoCopyArgs(out), { env: runEnv });
    };
    const samples = async (fn: () => Promise<unknown>, n = 5) => {
      const t: number[] = [];
      for (let i = 0; i < n; i++) {
        const s0 = performance.now();
        await fn();
        t.push(performance.now() - s0);
      }
      return t.sort((a, b) => a - b)[Math.floor(n / 2)]!;
    };
    const copyMs = await samples(skopeoCopy);
    const evalMs = await samples(() => run(process.execPath, [bin, ...policyEvalArgs], { env: runEnv }));
    console.log('\npolicy-checked access to a small signed image on a loopback registry, median of 5');
    console.log(
      `skopeo copy --policy (signedBy, lookaside)                  ${copyMs.toFixed(0).padStart(6)} ms`,
    );
    console.log(
      `portcullis policy eval                                      ${evalMs.toFixed(0).padStart(6)} ms`,
    );
  } finally {
    await registry.stop();
    await env.cleanup();
  }
} finally {
  await home.remove();
  await rm(work, { recursive: true, force: true });
}
