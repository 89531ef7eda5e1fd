// Notation verification figures.
//
// 1. In process, a new signature each time: verifyNotationSignature over distinct JWS and COSE
//    envelopes (ECDSA P-384 and RSA-3072 signing certificates under one CA chain, the trust
//    compiled once, as a running webhook has it). Printed beside the floor: node:crypto's verify
//    of the same primitive signatures alone, which no Notation verifier can beat.
// 2. Cold admission through the policy engine (docker transport, loopback registry, no verdict
//    cache: every image is new): notationSigned images signed by notation-go against cosign
//    key-signed images (sigstoreSigned), in the same run, interleaved; p50 and the ratio.
//
//   node_modules/.bin/node test/bench/notation.bench.ts [--signatures N] [--rounds N] [--images N] [--skip-admission]
import { constants, createPrivateKey, verify, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSignedRegistry } from '../../e2e/product/fixtures.ts';
import type { Digest } from '../../src/image/digest.ts';
import { manifestDigest, parseNormalizedNamed, sigstoreVerifier } from '../../src/image/index.ts';
import { decodeCbor, sigStructure } from '../../src/image/signature/notation/cbor.ts';
import { compileNotationTrust, verifyNotationSignature } from '../../src/image/signature/notation/index.ts';
import { closeAllAgents, DockerTransport } from '../../src/image/transports/docker/index.ts';
import { type CheckObserver, loadPolicy } from '../../src/policy/index.ts';
import { coseEnvelope, derChain, jwsEnvelope } from '../image/signature/notation/envelopes.ts';
import { notationGoSign, notationSignMissing } from '../image/signature/notation/notation-go.ts';
import { IDENTITY, makePki, notationRequirement } from '../image/signature/notation/pki.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
};
const SIGNATURES = arg('--signatures', 2000);
const ROUNDS = arg('--rounds', 5);
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const IMAGES = arg('--images', 30);
const target = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${'ab'.repeat(32)}` as Digest,
  size: 1234,
};

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;
}

async function inProcess(dir: string): Promise<void> {
  const pki = await makePki(dir);
  const trust = compileNotationTrust({
    ca: [Buffer.from(pki.root.pem)],
    trustedIdentities: [IDENTITY],
    level: 'strict',
  });
  console.log(
    `in-process verification, ${SIGNATURES} distinct signatures per row (trust compiled once), per CPU second, median of ${ROUNDS} rounds`,
  );
  console.log(
    `${'signer / envelope'.padEnd(28)}${'notation'.padStart(12)}${'crypto floor'.padStart(14)}${'overhead'.padStart(10)}`,
  );
  for (const [name, cert, alg] of [
    ['ECDSA P-384', pki.leaf, 'ES384'],
    ['RSA-3072', pki.rsaLeaf, 'PS384'],
  ] as const) {
    const key = createPrivateKey(cert.keyPem);
    const chain = derChain(cert.pem + pki.intermediate.pem + pki.root.pem);
    for (const [format, make, mediaType] of [
      ['jws', jwsEnvelope, 'application/jose+json'],
      ['cose', coseEnvelope, 'application/cose'],
    ] as const) {
      // Distinct signatures: the signing time differs per envelope (and ECDSA/PSS are randomized).
      const envelopes = Array.from({ length: SIGNATURES }, (_, i) =>
        make({ alg, key, chain, target, signingTime: new Date(Date.now() - i * 1000) }),
      );
      verifyNotationSignature(trust, mediaType, envelopes[0]!, target);
      // The floor: the primitive signature alone, over the same bytes.
      const publicKey = new X509Certificate(cert.pem).publicKey;
      const signed = envelopes.map((e) => primitiveOf(format, e));
      const floorOne = (s: { data: Buffer; signature: Buffer }) =>
        alg === 'ES384'
          ? verify('sha384', s.data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, s.signature)
          : verify(
              'sha384',
              s.data,
              { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 },
              s.signature,
            );
      // CPU time of this process (less distorted by other load than wall time), rounds interleaved,
      // the median round reported.
      const oursMs: number[] = [];
      const floorMs: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        let c = process.cpuUsage();
        for (const e of envelopes) verifyNotationSignature(trust, mediaType, e, target);
        oursMs.push(cpuMs(process.cpuUsage(c)));
        c = process.cpuUsage();
        for (const x of signed) if (!floorOne(x)) throw new Error('floor: signature did not verify');
        floorMs.push(cpuMs(process.cpuUsage(c)));
      }
      const ours = median(oursMs);
      const floor = median(floorMs);
      console.log(
        `${`${name} / ${format}`.padEnd(28)}${rate(SIGNATURES, ours).padStart(12)}${rate(SIGNATURES, floor).padStart(14)}${`${(ours / floor).toFixed(2)}x`.padStart(10)}`,
      );
    }
  }
}

/** The signed bytes and the signature of an envelope, for the floor. */
function primitiveOf(format: 'jws' | 'cose', e: Buffer): { data: Buffer; signature: Buffer } {
  if (format === 'jws') {
    const env = JSON.parse(e.toString());
    return {
      data: Buffer.from(`${env.protected}.${env.payload}`),
      signature: Buffer.from(env.signature, 'base64url'),
    };
  }
  const top = decodeCbor(e) as unknown as { value: [Uint8Array, unknown, Uint8Array, Uint8Array] };
  const [p, , payload, signature] = top.value;
  return { data: sigStructure(p, payload), signature: Buffer.from(signature) };
}

const quiet: CheckObserver = { stage() {}, cache() {}, registryRequest() {} };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function admissions(dir: string): Promise<void> {
  if (notationSignMissing) {
    console.log(`cold admissions: skipped (${notationSignMissing})`);
    return;
  }
  const registry = await startSignedRegistry();
  try {
    const pki = await makePki(dir);
    const h = registry.host;
    for (let i = 0; i < IMAGES; i++) {
      const envelope = i % 2 ? 'cose' : 'jws';
      await registry.push(`notation/ec${i}:v1`, 'none');
      await notationGoSign(`${h}/notation/ec${i}:v1`, { cert: pki.leaf, envelope });
      await registry.push(`notation/rsa${i}:v1`, 'none');
      await notationGoSign(`${h}/notation/rsa${i}:v1`, { cert: pki.rsaLeaf, envelope });
      await registry.push(`cosign/app${i}:v1`, 'cosign');
    }
    const policyPath = join(dir, 'policy.json');
    await writeFile(
      policyPath,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`${h}/notation`]: [notationRequirement(pki.root.path)],
            [`${h}/cosign`]: [
              {
                type: 'sigstoreSigned',
                keyPath: registry.cosignKeyPath,
                signedIdentity: { type: 'matchRepository' },
              },
            ],
          },
        },
      }),
    );
    const transport = new DockerTransport({
      env: {},
      home: registry.work,
      defaultLookaside: `file://${join(registry.work, 'lookaside')}`,
    });
    const engine = await loadPolicy(policyPath, {
      transport,
      sigstore: sigstoreVerifier(),
      context: {
        registriesConfPath: registry.registriesConf,
        registriesDirPath: registry.registriesD,
        tlsVerify: false,
      },
    });
    const kinds = { ec: 'notation/ec', rsa: 'notation/rsa', cosign: 'cosign/app' } as const;
    const times: Record<keyof typeof kinds, number[]> = { ec: [], rsa: [], cosign: [] };
    const orders: (keyof typeof kinds)[][] = [
      ['cosign', 'ec', 'rsa'],
      ['ec', 'rsa', 'cosign'],
      ['rsa', 'cosign', 'ec'],
    ];
    const platforms = { kind: 'platforms', platforms: [{ os: 'linux', architecture: 'amd64' }] } as const;
    for (let i = 0; i < IMAGES; i++) {
      for (const kind of orders[i % orders.length]!) {
        const ref = parseNormalizedNamed(`${h}/${kinds[kind]}${i}:v1`);
        // Resolve the tag outside the timing, as the webhook's digest cache would have it or not alike.
        const source = await transport.parseReference(`//${ref.toString()}`).newImageSource({
          registriesConfPath: registry.registriesConf,
          registriesDirPath: registry.registriesD,
          tlsVerify: false,
        });
        const digest = manifestDigest((await source.getManifest()).manifest);
        await source.close();
        const t = performance.now();
        const verdict = await engine.evaluate(
          ref,
          digest,
          { dockerConfigJson: [] },
          AbortSignal.timeout(10_000),
          quiet,
          platforms,
        );
        times[kind].push(performance.now() - t);
        if (verdict.kind !== 'allowed') throw new Error(`${ref}: ${verdict.kind}: ${verdict.reason}`);
      }
    }
    await closeAllAgents();
    // The first admission of each kind warms connections and trust parsing: left out.
    const p50 = (xs: number[]) =>
      percentile(
        xs.slice(1).sort((a, b) => a - b),
        50,
      );
    const [ec, rsa, c] = [p50(times.ec), p50(times.rsa), p50(times.cosign)];
    console.log(`cold admissions through the policy engine, ${IMAGES} distinct images each, interleaved`);
    console.log(
      `  notationSigned, notation-go JWS/COSE, ECDSA P-384: p50 ${ec.toFixed(2)} ms (${(ec / c).toFixed(2)}x cosign)`,
    );
    console.log(
      `  notationSigned, notation-go JWS/COSE, RSA-3072:    p50 ${rsa.toFixed(2)} ms (${(rsa / c).toFixed(2)}x cosign)`,
    );
    console.log(
      `  sigstoreSigned, cosign key (P-256), attachment:    p50 ${c.toFixed(2)} ms (goal: notation <= 1.5x)`,
    );
  } finally {
    await registry.stop();
  }
}

const dir = await mkdtemp(join(tmpdir(), 'portcullis-notation-bench-'));
try {
  console.log(
    `${new Date().toISOString()} load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}, node ${process.version}`,
  );
  await inProcess(dir);
  if (!process.argv.includes('--skip-admission')) await admissions(dir);
} finally {
  await rm(dir, { recursive: true, force: true });
}
