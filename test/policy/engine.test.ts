import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseNormalizedNamed, sigstoreVerifier } from '../../src/image/index.ts';
import { DockerTransport } from '../../src/image/transports/docker/index.ts';
import { loadPolicy, type PolicyLoadOptions } from '../../src/policy/index.ts';

describe('loadPolicy', () => {
  let dir: string;
  const options: PolicyLoadOptions = {
    transport: new DockerTransport(),
    sigstore: sigstoreVerifier(),
    context: {},
  };
  const ref = (s: string) => parseNormalizedNamed(s).tagNameOnly();
  const policyWithKey = (keyPath: string) =>
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: { docker: { 'registry.example': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath }] } },
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-engine-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the embedded default admits registry.k8s.io and rejects the rest, without the image', async () => {
    const engine = await loadPolicy(undefined, options);
    assert.deepEqual(await engine.decideWithoutImage(ref('registry.k8s.io/pause:3.10')), {
      kind: 'allowed',
      reason: 'accepted by policy without signature verification',
      verified: false,
    });
    const denied = await engine.decideWithoutImage(ref('docker.io/library/nginx:1.27'));
    assert.equal(denied?.kind, 'denied');
    assert.deepEqual(engine.sources, []);
  });

  it('leaves images whose requirements verify signatures to evaluate()', async () => {
    const key = join(dir, 'key.gpg');
    await writeFile(key, 'not really a key');
    await writeFile(join(dir, 'p.json'), policyWithKey(key));
    const engine = await loadPolicy(join(dir, 'p.json'), options);
    assert.equal(await engine.decideWithoutImage(ref('registry.example/app:1')), undefined);
    assert.deepEqual(engine.sources, [join(dir, 'p.json'), key]);
  });

  it('changes the policy hash with the document and the trust hash with a key file', async () => {
    const key = join(dir, 'k.gpg');
    await writeFile(key, 'key one');
    await writeFile(join(dir, 'h.json'), policyWithKey(key));
    const first = await loadPolicy(join(dir, 'h.json'), options);
    await writeFile(key, 'key two');
    const rotated = await loadPolicy(join(dir, 'h.json'), options);
    assert.equal(rotated.policyHash, first.policyHash);
    assert.notEqual(rotated.trustHash, first.trustHash);
    await writeFile(join(dir, 'h.json'), policyWithKey(key).replace('"reject"', '"insecureAcceptAnything"'));
    const edited = await loadPolicy(join(dir, 'h.json'), options);
    assert.notEqual(edited.policyHash, rotated.policyHash);
    assert.equal(edited.trustHash, rotated.trustHash);
  });

  it('watches notationSigned trust store files and hashes them into the trust hash', async () => {
    const [ca, tsa] = [join(dir, 'notation-ca.pem'), join(dir, 'notation-tsa.pem')];
    await writeFile(ca, 'ca one');
    await writeFile(tsa, 'tsa one');
    const policy = JSON.stringify({
      default: [
        {
          type: 'notationSigned',
          trustStore: { caPath: ca, tsaPath: tsa },
          trustedIdentities: ['*'],
          signatureVerification: { level: 'strict' },
        },
      ],
    });
    await writeFile(join(dir, 'n.json'), policy);
    const first = await loadPolicy(join(dir, 'n.json'), options);
    assert.deepEqual(first.sources, [join(dir, 'n.json'), ca, tsa]);
    await writeFile(tsa, 'tsa two');
    const rotated = await loadPolicy(join(dir, 'n.json'), options);
    assert.equal(rotated.policyHash, first.policyHash);
    assert.notEqual(rotated.trustHash, first.trustHash);
  });

  const failures: Array<[string, () => Promise<string>, string]> = [
    ['a missing policy file', async () => join(dir, 'absent.json'), 'POLICY_UNREADABLE'],
    [
      'a missing key file',
      async () => {
        await writeFile(join(dir, 'm.json'), policyWithKey(join(dir, 'absent.gpg')));
        return join(dir, 'm.json');
      },
      'TRUST_UNREADABLE',
    ],
    [
      'duplicate keys (strict policy.json parsing)',
      async () => {
        await writeFile(join(dir, 'd.json'), '{"default":[{"type":"reject"}],"default":[{"type":"reject"}]}');
        return join(dir, 'd.json');
      },
      'JSON_DUPLICATE_KEY',
    ],
  ];
  for (const [what, setup, code] of failures) {
    it(`fails to load ${what} with ${code}`, async () => {
      await assert.rejects(loadPolicy(await setup(), options), { code });
    });
  }
});
