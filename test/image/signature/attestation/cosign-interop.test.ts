// Attestations made by the real cosign (v2.4.1: the `sha256-<hex>.att` attachment; v3.1.3: sigstore
// bundles as OCI 1.1 referrers, the tag schema on this registry) verified by `portcullis policy
// eval` for each `cosign attest --type` with a realistic predicate (test/fixtures/attestations/),
// each judged by a condition on its content. Offline: a key, no transparency log. Skips with a
// note when a cosign binary is absent (scripts/build-tools.sh builds both).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateSigstoreKeyPair } from '../../../../src/image/signature/sigstore/index.ts';
import { closeAllAgents } from '../../../../src/image/transports/docker/index.ts';
import { runCli } from '../../../helpers/cli.ts';
import { COSIGN_V2, COSIGN_V3, cosignMissing } from '../../../helpers/cosign-variants.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { pushWithFetch, syntheticImage } from '../../../helpers/synthetic-image.ts';
import { GENERATOR } from './helpers.ts';

const run = promisify(execFile);
const fixture = (name: string) =>
  fileURLToPath(new URL(`../../../fixtures/attestations/${name}`, import.meta.url));
const PASSPHRASE = 'attestation interop';

/** `--type`, its predicate type, the predicate file, and a condition its content satisfies. */
const TYPES: readonly (readonly [string, string, string, string])[] = [
  [
    'slsaprovenance1',
    'https://slsa.dev/provenance/v1',
    'slsa-provenance-v1.json',
    `predicate.runDetails.builder.id == "${GENERATOR}"`,
  ],
  [
    'slsaprovenance',
    'https://slsa.dev/provenance/v0.2',
    'slsa-provenance-v0.2.json',
    'predicate.builder.id.startsWith("https://github.com/slsa-framework/")',
  ],
  [
    'slsaprovenance02',
    'https://slsa.dev/provenance/v0.2',
    'slsa-provenance-v0.2.json',
    'predicate.invocation.configSource.entryPoint == ".github/workflows/release.yml"',
  ],
  ['link', 'https://in-toto.io/Link/v1', 'in-toto-link.json', 'predicate.name == "build"'],
  [
    'spdxjson',
    'https://spdx.dev/Document',
    'spdx-2.3.json',
    'predicate.spdxVersion == "SPDX-2.3" && predicate.packages.exists(p, p.name == "openssl")',
  ],
  ['spdx', 'https://spdx.dev/Document', 'spdx-2.3.spdx', 'predicate.contains("SPDXVersion: SPDX-2.3")'],
  [
    'cyclonedx',
    'https://cyclonedx.org/bom',
    'cyclonedx-1.5.json',
    'predicate.specVersion == "1.5" && predicate.components.all(c, has(c.licenses))',
  ],
  [
    'vuln',
    'https://cosign.sigstore.dev/attestation/vuln/v1',
    'cosign-vuln.json',
    'predicate.scanner.uri.startsWith("pkg:github/aquasecurity/trivy")',
  ],
  [
    'openvex',
    'https://openvex.dev/ns',
    'openvex.json',
    'predicate.statements.exists(s, s.status == "not_affected")',
  ],
  [
    'custom',
    'https://cosign.sigstore.dev/attestation/v1',
    'custom.txt',
    'predicate.Data.contains("CAB-2291")',
  ],
  ['https://example.com/vex/v1', 'https://example.com/vex/v1', 'openvex.json', 'has(predicate.statements)'],
];

describe('attestations made by the real cosign, verified by policy eval', { skip: cosignMissing() }, () => {
  let registry: TestRegistry;
  let work: string;
  let publicKeyData: string;

  before(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'portcullis-attest-interop-'));
    await writeFile(join(work, 'registries.conf'), '');
    const pair = await generateSigstoreKeyPair(new TextEncoder().encode(PASSPHRASE));
    await writeFile(join(work, 'cosign.key'), pair.privateKeyPem);
    await writeFile(join(work, 'cosign.pub'), pair.publicKeyPem);
    publicKeyData = Buffer.from(pair.publicKeyPem).toString('base64');
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
    await closeAllAgents();
  });

  const cosign = (bin: string, args: string[]) =>
    run(bin, [...args, '--allow-insecure-registry', '--allow-http-registry'], {
      env: { ...process.env, HOME: work, COSIGN_PASSWORD: PASSPHRASE, COSIGN_YES: 'true' },
    });

  async function evaluate(image: string, predicateType: string, condition: string, keyData = publicKeyData) {
    const policy = join(work, `policy-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(
      policy,
      JSON.stringify({
        default: [{ type: 'sigstoreAttested', keyData, predicateType, conditions: [condition] }],
      }),
    );
    const r = await runCli(
      [
        'policy',
        'eval',
        '--json',
        '--policy',
        policy,
        '--tls-verify=false',
        '--registries-conf',
        join(work, 'registries.conf'),
        `docker://${image}`,
      ],
      { HOME: work },
    );
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    return JSON.parse(r.stdout);
  }

  const versions = [
    ['v2.4.1', () => COSIGN_V2, ['--tlog-upload=false'], 'attachment'],
    ['v3.1.3', () => COSIGN_V3, ['--tlog-upload=false', '--use-signing-config=false'], 'referrer'],
  ] as const;
  for (const [version, bin, flags, via] of versions) {
    for (const [type, predicateType, file, condition] of TYPES) {
      it(`cosign ${version} attest --type ${type}: verified (${via}) and judged by its content`, async () => {
        const repo = `interop/${version.replaceAll('.', '-')}-${type.replace(/[^a-z0-9]+/g, '-')}`;
        const image = syntheticImage({ layers: 1, layerBytes: 256, labels: { repo } });
        await pushWithFetch(registry.url, repo, 'v1', image);
        const ref = `${registry.host}/${repo}@${image.manifestDigest}`;
        await cosign(bin(), [
          'attest',
          '--key',
          join(work, 'cosign.key'),
          ...flags,
          '--type',
          type,
          '--predicate',
          fixture(file),
          ref,
        ]);
        const e = await evaluate(`${registry.host}/${repo}:v1`, predicateType, condition);
        assert.equal(e.allowed, true, e.reason);
        const [a] = e.requirements[0].attestations;
        assert.ok(a.location.startsWith(via === 'attachment' ? 'tag ' : 'referrer '), a.location);
        // The same attestation, judged by a condition it does not meet.
        const denied = await evaluate(`${registry.host}/${repo}:v1`, predicateType, `!(${condition})`);
        assert.equal(denied.code, 'CONDITIONS_NOT_MET', denied.reason);
        // And under another key: rejected, never admitted.
        const other = await generateSigstoreKeyPair(new TextEncoder().encode('x'));
        const rejected = await evaluate(
          `${registry.host}/${repo}:v1`,
          predicateType,
          condition,
          Buffer.from(other.publicKeyPem).toString('base64'),
        );
        assert.equal(rejected.code, 'ATTESTATION_REJECTED', rejected.reason);
      });
    }
  }

  const pushImage = async (repo: string) => {
    const image = syntheticImage({ layers: 1, layerBytes: 256, labels: { repo } });
    await pushWithFetch(registry.url, repo, 'v1', image);
    return `${registry.host}/${repo}@${image.manifestDigest}`;
  };
  const attest = (type: string, file: string, ref: string, ...flags: string[]) =>
    runCli(
      [
        'attest',
        ...flags,
        '--key',
        join(work, 'cosign.key'),
        '--type',
        type,
        '--predicate',
        fixture(file),
        '--tls-verify=false',
        '--registries-conf',
        join(work, 'registries.conf'),
        ref,
      ],
      { HOME: work, COSIGN_PASSWORD: PASSPHRASE },
    );
  const verifyAttestation = (bin: string, type: string, ref: string) =>
    cosign(bin, [
      'verify-attestation',
      '--key',
      join(work, 'cosign.pub'),
      '--insecure-ignore-tlog=true',
      '--type',
      type,
      ref,
    ]);

  for (const [type, predicateType, file, condition] of TYPES) {
    it(`portcullis attest --type ${type}: cosign verify-attestation v2.4.1 and v3.1.3 accept it, and so does policy eval`, async () => {
      const ref = await pushImage(`made/att-${type.replace(/[^a-z0-9]+/g, '-')}`);
      const r = await attest(type, file, ref);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(
          `: ${predicateType.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(tag sha256-[a-f0-9]{64}\\.att\\)`,
        ),
      );
      // cosign v3.1.3 verifies no SPDX tag-value attestation (its predicate is a JSON string, which
      // v3 cannot decode as a statement), not even its own or cosign v2's: v2 only for that type.
      for (const bin of type === 'spdx' ? [COSIGN_V2] : [COSIGN_V2, COSIGN_V3]) {
        const { stdout } = await verifyAttestation(bin, type, ref);
        const envelope = JSON.parse(stdout.trim().split('\n')[0]!);
        const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString());
        assert.equal(statement.predicateType, predicateType);
      }
      const e = await evaluate(ref.replace(/@sha256:.*/, ':v1'), predicateType, condition);
      assert.equal(e.allowed, true, e.reason);
    });
  }

  it('portcullis attest --bundle: a sigstore bundle referrer that cosign v3.1.3 verify-attestation accepts', async () => {
    const ref = await pushImage('made/bundle');
    const r = await attest('slsaprovenance1', 'slsa-provenance-v1.json', ref, '--bundle');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\(sigstore bundle referrer\)/);
    await verifyAttestation(COSIGN_V3, 'slsaprovenance1', ref);
    const e = await evaluate(
      ref.replace(/@sha256:.*/, ':v1'),
      'https://slsa.dev/provenance/v1',
      `predicate.runDetails.builder.id == "${GENERATOR}"`,
    );
    assert.equal(e.allowed, true, e.reason);
    assert.ok(e.requirements[0].attestations[0].location.startsWith('referrer '));
  });
});
