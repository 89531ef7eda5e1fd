// `portcullis policy eval` and `policy lint` on sigstoreAttested policies, through the docker
// transport and a loopback Distribution registry: a provenance from the wrong builder is denied
// with the condition and the value it saw, the right one is admitted, two sigstoreAttested entries
// in one scope mean "this attestation and that one", and a condition that does not compile is a
// parse error with the expression and its position.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../../../src/image/digest.ts';
import { closeAllAgents } from '../../../../src/image/transports/docker/index.ts';
import { runCli } from '../../../helpers/cli.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { pushWithFetch, syntheticImage } from '../../../helpers/synthetic-image.ts';
import {
  envelope,
  fixturePredicate,
  GENERATOR,
  pushAtt,
  RegistryClient,
  SLSA_V1,
  statementBytes,
} from './helpers.ts';

const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keyData = Buffer.from(key.publicKey.export({ format: 'pem', type: 'spki' }).toString()).toString(
  'base64',
);
const BUILDER = `predicate.runDetails.builder.id == "${GENERATOR}"`;
const NO_CRITICAL =
  'predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) || r.Vulnerabilities.all(v, v.Severity != "CRITICAL"))';
const provenance = { type: 'sigstoreAttested', keyData, predicateType: SLSA_V1, conditions: [BUILDER] };
const vulnReport = { type: 'sigstoreAttested', keyData, predicateType: VULN, conditions: [NO_CRITICAL] };

describe('policy eval with sigstoreAttested', () => {
  let registry: TestRegistry;
  let work: string;

  before(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'portcullis-attested-'));
    await writeFile(join(work, 'registries.conf'), '');
    await writeFile(
      join(work, 'policy.json'),
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`${registry.host}/built`]: [provenance],
            [`${registry.host}/scanned`]: [provenance, vulnReport],
          },
        },
      }),
    );
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
    await closeAllAgents();
  });

  async function push(repo: string, attestations: { predicateType: string; predicate: unknown }[]) {
    const client = new RegistryClient(registry.url, repo);
    const digest = await client.pushImage('v1');
    if (attestations.length > 0) {
      await pushAtt(
        client,
        digest,
        attestations.map((a) => ({
          envelope: envelope(key.privateKey, statementBytes(digest, a)),
          predicateType: a.predicateType,
        })),
      );
    }
    return { image: `${registry.host}/${repo}:v1`, digest };
  }

  const evalCli = (image: string, ...flags: string[]) =>
    runCli(
      [
        'policy',
        'eval',
        ...flags,
        '--policy',
        join(work, 'policy.json'),
        '--tls-verify=false',
        '--registries-conf',
        join(work, 'registries.conf'),
        `docker://${image}`,
      ],
      { HOME: work },
    );

  async function evaluate(image: string) {
    const r = await evalCli(image, '--json');
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    return JSON.parse(r.stdout);
  }

  const goodProvenance = { predicateType: SLSA_V1, predicate: fixturePredicate('slsa-provenance-v1.json') };
  const evilProvenance = {
    predicateType: SLSA_V1,
    predicate: { runDetails: { builder: { id: 'https://evil.example/builder' } } },
  };

  it('admits an image whose provenance names the trusted builder, and explains it', async () => {
    const { image } = await push('built/good', [goodProvenance]);
    const e = await evaluate(image);
    assert.equal(e.allowed, true, e.reason);
    const [a] = e.requirements[0].attestations;
    assert.equal(a.verified, true);
    assert.equal(a.satisfied, true);
    assert.deepEqual(a.conditions, [{ expression: BUILDER, result: 'true' }]);
    // Met by the .att attestation: the referrers are not read.
    assert.equal(
      e.requirements[0].probes.at(-1),
      'referrers: not read (an attestation above met the requirement)',
    );
  });

  it('denies a provenance that names another builder: the condition, the attestation and the value seen', async () => {
    const { image, digest } = await push('built/evil', [evilProvenance]);
    const e = await evaluate(image);
    assert.equal(e.allowed, false);
    assert.equal(e.code, 'CONDITIONS_NOT_MET');
    assert.ok(
      e.reason.startsWith(
        `an attestation of type "${SLSA_V1}" was required with its conditions met: condition ${JSON.stringify(BUILDER)} was false (saw predicate.runDetails.builder.id = "https://evil.example/builder") in .att layer sha256:`,
      ),
      e.reason,
    );
    assert.ok(
      e.reason.includes(
        `(1 verified, it does not meet them); probed: tag ${digest.replace(':', '-')}.att: 1 attestation (1 verified)`,
      ),
      e.reason,
    );
  });

  it('a missing field is reported as an error, not as false', async () => {
    const { image } = await push('built/no-builder', [
      { predicateType: SLSA_V1, predicate: { runDetails: {} } },
    ]);
    const e = await evaluate(image);
    assert.equal(e.code, 'CONDITIONS_NOT_MET');
    assert.match(e.reason, /failed with an error \(CEL_EVALUATION_ERROR\): .*builder/);
    assert.match(e.reason, /saw predicate\.runDetails\.builder\.id = missing/);
  });

  it('denies an image with no attestation, saying where it looked', async () => {
    const { image, digest } = await push('built/none', []);
    const e = await evaluate(image);
    assert.equal(e.code, 'NO_ATTESTATION');
    assert.ok(
      e.reason.startsWith(
        `an attestation of type "${SLSA_V1}" was required, but none exists; probed: tag ${digest.replace(':', '-')}.att: no attestations; referrers: none`,
      ),
      e.reason,
    );
  });

  it('two sigstoreAttested entries in a scope: this attestation and that one', async () => {
    const clean = {
      predicateType: VULN,
      predicate: fixturePredicate('cosign-vuln.json'),
    };
    const critical = structuredClone(clean) as typeof clean & {
      predicate: { scanner: { result: { Results: { Vulnerabilities: { Severity: string }[] }[] } } };
    };
    critical.predicate.scanner.result.Results[0]!.Vulnerabilities[0]!.Severity = 'CRITICAL';
    const both = await evaluate((await push('scanned/both', [goodProvenance, clean])).image);
    assert.equal(both.allowed, true, both.reason);
    const onlyProvenance = await evaluate((await push('scanned/provenance-only', [goodProvenance])).image);
    assert.equal(onlyProvenance.code, 'NO_ATTESTATION');
    assert.equal(onlyProvenance.requirements.length, 2);
    assert.equal(onlyProvenance.requirements[0].allowed, true);
    assert.match(
      onlyProvenance.reason,
      /an attestation of type "https:\/\/cosign.sigstore.dev\/attestation\/vuln\/v1" was required/,
    );
    const withCritical = await evaluate((await push('scanned/critical', [goodProvenance, critical])).image);
    assert.equal(withCritical.code, 'CONDITIONS_NOT_MET');
    assert.ok(withCritical.reason.includes(JSON.stringify(NO_CRITICAL)), withCritical.reason);
  });

  it('a passing provenance by an untrusted key beside a failing trusted one is never admitted', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const client = new RegistryClient(registry.url, 'built/mixed');
    const digest = await client.pushImage('v1');
    await pushAtt(client, digest, [
      { envelope: envelope(other, statementBytes(digest, goodProvenance)), predicateType: SLSA_V1 },
      { envelope: envelope(key.privateKey, statementBytes(digest, evilProvenance)), predicateType: SLSA_V1 },
    ]);
    const e = await evaluate(`${registry.host}/built/mixed:v1`);
    assert.equal(e.code, 'CONDITIONS_NOT_MET');
    const [verified, rejected] = e.requirements[0].attestations;
    assert.equal(verified.verified, true);
    assert.equal(verified.satisfied, false);
    assert.deepEqual([rejected.verified, rejected.code], [false, 'SIGSTORE_SIGNATURE_INVALID']);
  });

  it('a multi-arch image: the platform instance judged needs its own attestation', async () => {
    const repo = 'built/multi';
    const client = new RegistryClient(registry.url, repo);
    const entries = [];
    const instances: Record<string, string> = {};
    for (const architecture of ['amd64', 'arm64']) {
      const image = syntheticImage({ layers: 1, layerBytes: 128, architecture, labels: { architecture } });
      await pushWithFetch(registry.url, repo, architecture, image);
      instances[architecture] = image.manifestDigest;
      entries.push({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: image.manifestDigest,
        size: image.manifest.length,
        platform: { os: 'linux', architecture },
      });
    }
    await client.pushIndex('v1', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: entries,
    });
    const amd64 = instances.amd64 as Digest;
    await pushAtt(client, amd64, [
      { envelope: envelope(key.privateKey, statementBytes(amd64, goodProvenance)), predicateType: SLSA_V1 },
    ]);
    const image = `${registry.host}/${repo}:v1`;
    const on = async (arch: string) =>
      JSON.parse((await evalCli(image, '--json', '--override-arch', arch, '--override-os', 'linux')).stdout);
    const a = await on('amd64');
    assert.equal(a.allowed, true, a.reason);
    assert.equal(a.instance.digest, amd64);
    const b = await on('arm64');
    assert.equal(b.code, 'NO_ATTESTATION');
    assert.equal(b.instance.digest, instances.arm64);
  });

  it('prints each attestation and condition in the text explanation', async () => {
    const { image } = await push('built/text', [evilProvenance]);
    const r = await evalCli(image);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /attestation tag sha256-[a-f0-9]{64}\.att layer sha256:[a-f0-9]{64}: verified \(signed by keyData\), conditions not met/,
    );
    assert.ok(
      r.stdout.includes(
        `condition ${JSON.stringify(BUILDER)}: false (saw predicate.runDetails.builder.id = "https://evil.example/builder")`,
      ),
      r.stdout,
    );
  });
});

describe('policy lint with sigstoreAttested', () => {
  it('a condition that does not compile is an error with the expression and its position', async () => {
    const work = await mkdtemp(join(tmpdir(), 'portcullis-attested-lint-'));
    try {
      const path = join(work, 'policy.json');
      const bad = { ...provenance, conditions: [BUILDER, 'predicate.runDetails.builder.id.startWith("x")'] };
      await writeFile(path, JSON.stringify({ default: [bad] }, null, 2));
      const r = await runCli(['policy', 'lint', path]);
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        /policy\.json:\d+:\d+: error: \/default\/0\/conditions\/1 at \d+:\d+: condition "predicate\.runDetails\.builder\.id\.startWith\(\\"x\\"\)": 1:32: unknown function startWith \[JSON_INVALID_VALUE\]/,
      );
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('warns that sigstoreAttested is not portable', async () => {
    const work = await mkdtemp(join(tmpdir(), 'portcullis-attested-lint-'));
    try {
      const path = join(work, 'policy.json');
      await writeFile(path, JSON.stringify({ default: [provenance] }));
      const r = await runCli(['policy', 'lint', path]);
      assert.match(
        r.stdout + r.stderr,
        /NOT_PORTABLE.*type sigstoreAttested|type sigstoreAttested.*NOT_PORTABLE/,
      );
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
