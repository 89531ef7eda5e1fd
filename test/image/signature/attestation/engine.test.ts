// The webhook's engine and sigstoreAttested: verdicts are cached under the policy hash, which
// changes with any condition, and a key file named by the requirement is watched and hashed like
// sigstoreSigned's.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sigstoreVerifier } from '../../../../src/image/index.ts';
import { DockerTransport } from '../../../../src/image/transports/docker/index.ts';
import { loadPolicy, type PolicyLoadOptions } from '../../../../src/policy/index.ts';
import { GENERATOR, SLSA_V1 } from './helpers.ts';

describe('sigstoreAttested in the webhook engine', () => {
  let dir: string;
  const options: PolicyLoadOptions = {
    transport: new DockerTransport(),
    sigstore: sigstoreVerifier(),
    context: {},
  };
  const policy = (keyPath: string, conditions: string[]) =>
    JSON.stringify({
      default: [{ type: 'sigstoreAttested', keyPath, predicateType: SLSA_V1, conditions }],
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-attest-engine-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a changed condition is a new policy hash; the key file is a trust source', async () => {
    const keyPath = join(dir, 'builder.pub');
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString();
    await writeFile(keyPath, pem);
    const path = join(dir, 'policy.json');
    await writeFile(path, policy(keyPath, [`predicate.runDetails.builder.id == "${GENERATOR}"`]));
    const first = await loadPolicy(path, options);
    await writeFile(
      path,
      policy(keyPath, [`predicate.runDetails.builder.id.startsWith("https://github.com/")`]),
    );
    const second = await loadPolicy(path, options);
    assert.notEqual(first.policyHash, second.policyHash);
    assert.equal(first.trustHash, second.trustHash);
    assert.ok(second.sources.includes(keyPath), JSON.stringify(second.sources));
  });
});
