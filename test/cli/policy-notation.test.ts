// `portcullis policy eval`, `policy lint` and `copy` with notationSigned requirements, on images
// that notation-go signed in a loopback Distribution registry (no referrers API there: notation
// writes, and Portcullis reads, the `sha256-<hex>` tag-schema index).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeAllAgents } from '../../src/image/transports/docker/index.ts';
import { runCli } from '../helpers/cli.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { notationGoSign, notationSignMissing } from '../image/signature/notation/notation-go.ts';
import { makePki, type NotationPki, notationRequirement } from '../image/signature/notation/pki.ts';
import { RegistryClient } from '../image/signature/sigstore/oci.ts';

let registry: TestRegistry;
let dir: string;
let pki: NotationPki;
let policyPath: string;

function notationPolicy(host: string, root: string, level = 'strict'): string {
  return JSON.stringify({
    default: [{ type: 'reject' }],
    transports: {
      docker: {
        [`${host}/notation`]: [notationRequirement(root, level)],
      },
    },
  });
}

function cli(args: string[]) {
  return runCli(
    [
      ...args.slice(0, 2),
      '--registries-conf',
      join(dir, 'registries.conf'),
      '--registries.d',
      join(dir, 'registries.d'),
      ...args.slice(2),
    ],
    { HOME: dir },
  );
}

const evaluate = (image: string, policy = policyPath) =>
  cli(['policy', 'eval', '--json', '--policy', policy, '--tls-verify=false', `docker://${image}`]);

describe('notationSigned through the CLI', { skip: notationSignMissing }, () => {
  before(async () => {
    [registry, dir] = await Promise.all([
      startRegistry(),
      mkdtemp(join(tmpdir(), 'portcullis-cli-notation-')),
    ]);
    pki = await makePki(dir);
    await mkdir(join(dir, 'registries.d'));
    await writeFile(join(dir, 'registries.conf'), '[[registry]]\nlocation = "127.0.0.1"\ninsecure = true\n');
    policyPath = join(dir, 'policy.json');
    await writeFile(policyPath, notationPolicy(registry.host, pki.root.path));
  });
  after(async () => {
    await registry?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    await closeAllAgents();
  });

  async function pushed(repo: string) {
    const client = new RegistryClient(registry.url, repo);
    const digest = await client.pushImage('v1');
    return { digest, image: `${registry.host}/${repo}@${digest}` };
  }

  it('policy eval allows an image notation-go signed, and says by whom', async () => {
    const { image } = await pushed('notation/signed');
    await notationGoSign(image, { cert: pki.leaf, envelope: 'jws' });
    const r = await evaluate(image);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [req] = JSON.parse(r.stdout).requirements;
    assert.equal(req.type, 'notationSigned');
    const [sig] = req.signatures;
    assert.equal(sig.format, 'notation');
    assert.equal(sig.envelope, 'application/jose+json');
    assert.match(sig.keyIdentity, /O=Portcullis Test, CN=notation signer/);
    const text = await cli([
      'policy',
      'eval',
      '--policy',
      policyPath,
      '--tls-verify=false',
      `docker://${image}`,
    ]);
    assert.match(
      text.stdout,
      /signature 0 \(notation application\/jose\+json, referrer sha256:[0-9a-f]{64}\): accepted \(signer C=US/,
    );
  });

  it('policy eval denies an unsigned image, saying no notation signature was found', async () => {
    const { image } = await pushed('notation/unsigned');
    const r = await evaluate(image);
    assert.notEqual(r.code, 0);
    const out = JSON.parse(r.stdout);
    assert.equal(out.code, 'NO_SIGNATURE');
    assert.match(
      out.reason,
      /A Notation signature was required, but none exists \(probed: referrers: no notation signatures\)/,
    );
  });

  it('policy eval denies an image whose signatures all fail, with each reason', async () => {
    const { image } = await pushed('notation/rejected');
    await notationGoSign(image, { cert: pki.stranger, envelope: 'cose' });
    await notationGoSign(image, { cert: pki.otherSubject, envelope: 'jws' });
    const r = await evaluate(image);
    assert.notEqual(r.code, 0);
    const out = JSON.parse(r.stdout);
    assert.equal(out.code, 'SIGNATURE_REJECTED');
    const codes = out.requirements[0].signatures.map((s: { code: string }) => s.code).sort();
    assert.deepEqual(codes, ['NOTATION_IDENTITY_MISMATCH', 'NOTATION_UNTRUSTED']);
    assert.match(out.reason, /no certificate of the chain is in the ca trust store/);
    assert.match(out.reason, /matches no trusted identity/);
  });

  it('permissive level admits a signature whose revocation status is unknown, and shows what it logged', async () => {
    const { image } = await pushed('notation/revocable');
    await notationGoSign(image, { cert: pki.revocable, envelope: 'jws' });
    assert.notEqual((await evaluate(image)).code, 0);
    const permissive = join(dir, 'permissive.json');
    await writeFile(permissive, notationPolicy(registry.host, pki.root.path, 'permissive'));
    const text = await cli([
      'policy',
      'eval',
      '--policy',
      permissive,
      '--tls-verify=false',
      `docker://${image}`,
    ]);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /logged: revocation: revocation status of certificate .* is unknown/);
  });

  it('copy carries the notation signature; the copy verifies under the same policy', async () => {
    const { image } = await pushed('notation/source');
    await notationGoSign(image, { cert: pki.rsaLeaf, envelope: 'cose' });
    const dest = `${registry.host}/notation/copied:v1`;
    const copy = await cli([
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${image}`,
      `docker://${dest}`,
    ]);
    assert.equal(copy.code, 0, copy.stderr);
    const r = await evaluate(dest);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(JSON.parse(r.stdout).requirements[0].signatures[0].envelope, 'application/cose');
  });

  it('sync carries the notation signature too', async () => {
    const { image } = await pushed('notation/syncsrc');
    await notationGoSign(image, { cert: pki.leaf, envelope: 'jws' });
    await runCli([
      'sync',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--src',
      'docker',
      '--dest',
      'docker',
      `${registry.host}/notation/syncsrc:v1`,
      `${registry.host}/notation/synced`,
    ]).then((r) => assert.equal(r.code, 0, r.stderr));
    const r = await evaluate(`${registry.host}/notation/synced/syncsrc:v1`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('a signed multi-arch index: each platform instance is allowed by the index signature', async () => {
    const client = new RegistryClient(registry.url, 'notation/multi');
    const layer = await client.pushBlob(Buffer.from('multi-arch layer'));
    const manifests = [];
    for (const architecture of ['amd64', 'arm64']) {
      const config = await client.pushBlob(
        Buffer.from(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })),
      );
      const manifest = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      };
      const digest = await client.pushManifest(`${architecture}`, manifest);
      const size = Buffer.byteLength(JSON.stringify(manifest));
      manifests.push({
        mediaType: manifest.mediaType,
        digest,
        size,
        platform: { architecture, os: 'linux' },
      });
    }
    const index = await client.pushIndex('v1', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests,
    });
    await notationGoSign(`${registry.host}/notation/multi:v1`, { cert: pki.leaf, envelope: 'jws' });
    for (const arch of ['amd64', 'arm64']) {
      const r = await cli([
        'policy',
        'eval',
        '--json',
        '--policy',
        policyPath,
        '--tls-verify=false',
        '--override-arch',
        arch,
        `docker://${registry.host}/notation/multi:v1`,
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.instance.platform, `linux/${arch}`);
      const accepted = out.requirements[0].signatures.find((s: { accepted: boolean }) => s.accepted);
      assert.equal(accepted.list, index);
      assert.match(out.requirements[0].probes[0], /^referrers: no notation signatures$/);
    }
  });

  it('policy lint flags notationSigned as not portable', async () => {
    const r = await runCli(['policy', 'lint', policyPath]);
    assert.match(
      r.stderr,
      /notationSigned uses Portcullis extensions \(type notationSigned\).*\[NOT_PORTABLE\]/,
    );
  });
});
