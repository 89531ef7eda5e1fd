// `portcullis copy` and `sync` carry cosign's `.att` attestations as they carry `.sig` signatures
// (bundle referrers already travel as referrers): the copy is verified by a sigstoreAttested policy
// at the destination; --remove-signatures drops them; a copy that changes the digest skips them.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeAllAgents } from '../../../../src/image/transports/docker/index.ts';
import { runCli } from '../../../helpers/cli.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { envelope, GENERATOR, pushAtt, RegistryClient, SLSA_V1, statementBytes } from './helpers.ts';

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keyData = Buffer.from(key.publicKey.export({ format: 'pem', type: 'spki' }).toString()).toString(
  'base64',
);

describe('copy and sync carry .att attestations', () => {
  let registry: TestRegistry;
  let work: string;
  const registryFlags = () => ['--registries-conf', join(work, 'registries.conf')];

  before(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'portcullis-attest-copy-'));
    await writeFile(join(work, 'registries.conf'), '');
    await writeFile(
      join(work, 'policy.json'),
      JSON.stringify({
        default: [
          {
            type: 'sigstoreAttested',
            keyData,
            predicateType: SLSA_V1,
            conditions: [`predicate.runDetails.builder.id == "${GENERATOR}"`],
          },
        ],
      }),
    );
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
    await closeAllAgents();
  });

  async function attested(repo: string) {
    const client = new RegistryClient(registry.url, repo);
    const digest = await client.pushImage('v1');
    await pushAtt(client, digest, [
      { envelope: envelope(key.privateKey, statementBytes(digest)), predicateType: SLSA_V1 },
    ]);
    return `${registry.host}/${repo}:v1`;
  }

  const copy = (from: string, to: string, ...flags: string[]) =>
    runCli(
      [
        'copy',
        '--quiet',
        '--insecure-policy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        ...registryFlags(),
        ...flags,
        `docker://${from}`,
        `docker://${to}`,
      ],
      { HOME: work },
    );
  const evaluate = async (image: string) => {
    const r = await runCli(
      [
        'policy',
        'eval',
        '--json',
        '--policy',
        join(work, 'policy.json'),
        '--tls-verify=false',
        ...registryFlags(),
        `docker://${image}`,
      ],
      { HOME: work },
    );
    return JSON.parse(r.stdout);
  };

  it('copy carries the attestation, which verifies at the destination', async () => {
    const from = await attested('copy/src');
    const to = `${registry.host}/copy/dest:v1`;
    const r = await copy(from, to);
    assert.equal(r.code, 0, r.stderr);
    const e = await evaluate(to);
    assert.equal(e.allowed, true, e.reason);
  });

  it('copy --remove-signatures leaves the attestations behind', async () => {
    const from = await attested('copy/src-removed');
    const to = `${registry.host}/copy/dest-removed:v1`;
    assert.equal((await copy(from, to, '--remove-signatures')).code, 0);
    assert.equal((await evaluate(to)).code, 'NO_ATTESTATION');
  });

  it('a copy that writes another digest skips them (they could not verify for it)', async () => {
    const from = await attested('copy/src-converted');
    const to = `${registry.host}/copy/dest-converted:v1`;
    const r = await runCli(
      [
        'copy',
        '--insecure-policy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        ...registryFlags(),
        '--format',
        'v2s2',
        `docker://${from}`,
        `docker://${to}`,
      ],
      { HOME: work },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout + r.stderr,
      /Skipping 1 attestations: they name sha256:[a-f0-9]{64}, the copy wrote sha256:/,
    );
    assert.equal((await evaluate(to)).code, 'NO_ATTESTATION');
  });

  it('sync carries them too', async () => {
    await attested('sync/src');
    const r = await runCli(
      [
        'sync',
        '--src',
        'docker',
        '--dest',
        'docker',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        ...registryFlags(),
        `${registry.host}/sync/src:v1`,
        `${registry.host}/mirror`,
      ],
      { HOME: work },
    );
    assert.equal(r.code, 0, r.stderr);
    const e = await evaluate(`${registry.host}/mirror/src:v1`);
    assert.equal(e.allowed, true, e.reason);
  });
});
