// Cold admission of a realistic 3-container Pod under two policies, in the same run and process:
// a signature-only policy (sigstoreSigned, each image's cosign `.sig`) and a provenance policy
// (sigstoreAttested, each image's SLSA v1 provenance in its `.att` attachment, judged by a builder
// condition). Every verdict cache is off, so each admission resolves 3 tags, reads the manifests
// and the signatures or attestations, and verifies them. Requests alternate between the two
// servers so foreign load hits both alike. Goal: provenance p50 within 1.5x of signature p50.
//
//   node_modules/.bin/node test/bench/attestation-admission.bench.ts [--requests N]
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sigstoreSignerFromKey } from '../../src/image/signature/sigstore/index.ts';
import { closeAllAgents, DockerTransport } from '../../src/image/transports/docker/index.ts';
import { startServer } from '../../src/server.ts';
import { writeSelfSignedCertificate } from '../../src/webhook/tls.ts';
import { startRegistry } from '../helpers/registry.ts';
import {
  envelope,
  fixturePredicate,
  GENERATOR,
  pushAtt,
  SLSA_V1,
  statementBytes,
} from '../image/signature/attestation/helpers.ts';
import { RegistryClient } from '../image/signature/sigstore/oci.ts';
import { realComponents, serverConfig, webhookClient, writeRegistriesD } from '../webhook/real-server.ts';
import { realisticPodReview } from './pod-review.ts';

const at = process.argv.indexOf('--requests');
const REQUESTS = at < 0 ? 60 : Number(process.argv[at + 1]);
const COLD = { maxEntries: 1, allowedTtlMs: 0, deniedTtlMs: 0, digestTtlMs: 0, staleIfErrorMs: 0 };

const registry = await startRegistry();
const root = await mkdtemp(join(tmpdir(), 'portcullis-bench-attest-'));
try {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = sigstoreSignerFromKey(key.privateKey);
  const keyData = Buffer.from(signer.publicKeyPem).toString('base64');
  const names = ['app', 'proxy', 'migrate'] as const;
  const images: string[] = [];
  for (const n of names) {
    const client = new RegistryClient(registry.url, `bench/${n}`);
    const digest = await client.pushImage('v1');
    const name = `${registry.host}/bench/${n}`;
    await client.pushAttachment(digest, signer.sign(digest, name));
    await pushAtt(client, digest, [
      {
        envelope: envelope(
          key.privateKey,
          statementBytes(digest, { predicate: fixturePredicate('slsa-provenance-v1.json') }),
        ),
        predicateType: SLSA_V1,
      },
    ]);
    images.push(`${name}:v1`);
  }
  const requirement = {
    signature: { type: 'sigstoreSigned', keyData, signedIdentity: { type: 'matchRepository' } },
    provenance: {
      type: 'sigstoreAttested',
      keyData,
      predicateType: SLSA_V1,
      conditions: [`predicate.runDetails.builder.id == "${GENERATOR}"`],
    },
  };
  const servers = [];
  for (const kind of ['signature', 'provenance'] as const) {
    const work = join(root, kind);
    await mkdir(work);
    await writeRegistriesD(work, registry.host, true);
    await writeSelfSignedCertificate(work, ['127.0.0.1']);
    await writeFile(
      join(work, 'policy.json'),
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: { docker: { [`${registry.host}/bench`]: [requirement[kind]] } },
      }),
    );
    const transport = new DockerTransport({
      env: {},
      home: work,
      defaultLookaside: `file://${work}/lookaside`,
    });
    const server = await startServer(
      serverConfig(work, { cache: COLD, deadlineMs: 10_000 }),
      realComponents(work, transport),
    );
    servers.push({
      kind,
      server,
      client: webhookClient(server, await readFile(join(work, 'tls.crt'))),
      ms: [] as number[],
    });
  }
  const review = (i: number) => realisticPodReview(`uid-${i}`, images as unknown as [string, string, string]);
  // Warm-up: connections, the trust cache, @bufbuild/cel loaded.
  for (const s of servers)
    for (let i = 0; i < 3; i++) {
      const r = await s.client.post('/validate', review(i));
      if (!r.allowed) throw new Error(`${s.kind}: ${JSON.stringify(r.status)}`);
    }
  for (let i = 0; i < REQUESTS; i++) {
    for (const s of i % 2 === 0 ? servers : [...servers].reverse()) {
      const r = await s.client.post('/validate', review(i));
      if (!r.allowed) throw new Error(`${s.kind}: ${JSON.stringify(r.status)}`);
      s.ms.push(r.ms);
    }
  }
  const pct = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)] ?? 0;
  const [sig, prov] = servers;
  for (const s of servers) {
    console.log(
      `${s.kind.padEnd(10)} cold 3-image Pod: p50 ${pct(s.ms, 0.5).toFixed(1)} ms, p90 ${pct(s.ms, 0.9).toFixed(1)} ms (${s.ms.length} admissions)`,
    );
  }
  console.log(
    `provenance / signature p50: ${(pct(prov!.ms, 0.5) / pct(sig!.ms, 0.5)).toFixed(2)}x (goal <= 1.5x); load average ${loadavg()[0]!.toFixed(1)}`,
  );
  for (const s of servers) await s.server.close();
} finally {
  await registry.stop();
  await closeAllAgents();
  await rm(root, { recursive: true, force: true });
}
