// `portcullis policy eval` with sigstore signatures attached only as OCI 1.1 referrers, through
// the real docker transport and a loopback Distribution registry (no referrers API there, so the
// `sha256-<hex>` tag-schema fallback is what is read). With the real cosign when it is built.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Digest, parseDigest } from '../../src/image/digest.ts';
import { BUNDLE_V03_MEDIA_TYPE, type SigstoreSigner } from '../../src/image/signature/sigstore/index.ts';
import { closeAllAgents } from '../../src/image/transports/docker/index.ts';
import { runCli } from '../helpers/cli.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import {
  bundlePolicyJson,
  DIGEST_ONLY_NAMESPACE,
  newSigstoreSigner,
  pushImageWithBundle,
} from '../helpers/sigstore-bundles.ts';
import { RegistryClient } from '../image/signature/sigstore/oci.ts';

const PASS = new TextEncoder().encode('referrers test');
const cosign = fileURLToPath(new URL('../../.cache/tools/cosign', import.meta.url));
const cosignMissing = existsSync(cosign) ? false : `cosign not built at ${cosign}`;

let registry: TestRegistry;
let dir: string;
let trusted: SigstoreSigner;
let unknown: SigstoreSigner;
let policyPath: string;

before(async () => {
  registry = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-eval-referrers-'));
  await mkdir(join(dir, 'registries.d'));
  await writeFile(join(dir, 'registries.conf'), '');
  ({ signer: trusted } = await newSigstoreSigner(PASS));
  ({ signer: unknown } = await newSigstoreSigner(PASS));
  policyPath = join(dir, 'policy.json');
  await writeFile(policyPath, bundlePolicyJson(registry.host, trusted));
});
after(async () => {
  await registry?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  await closeAllAgents();
});

function evaluate(image: string, policy = policyPath) {
  return runCli(
    [
      'policy',
      'eval',
      '--json',
      '--policy',
      policy,
      '--tls-verify=false',
      '--registries-conf',
      join(dir, 'registries.conf'),
      '--registries.d',
      join(dir, 'registries.d'),
      `docker://${image}`,
    ],
    { HOME: dir },
  );
}

async function pushWithBundle(repo: string, signer: SigstoreSigner, signedDigest?: Digest) {
  const { client, digest } = await pushImageWithBundle(registry, repo, signer, signedDigest);
  return { client, digest, image: `${registry.host}/${repo}@${digest}` };
}

describe('policy eval: sigstore signatures as OCI 1.1 referrers', () => {
  it('allows an image whose only signature is a v0.3 bundle by the trusted key, where digest-only signatures are accepted', async () => {
    const { image } = await pushWithBundle(`${DIGEST_ONLY_NAMESPACE}/bundle`, trusted);
    const r = await evaluate(image);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [req] = JSON.parse(r.stdout).requirements;
    const accepted = req.signatures.find((s: { accepted: boolean }) => s.accepted);
    assert.match(accepted.referrer, /^sha256:/);
    assert.equal(accepted.digestOnly, true);
    assert.match(
      req.probes.at(-1),
      new RegExp(
        `referrers: ${BUNDLE_V03_MEDIA_TYPE.replaceAll('.', '\\.').replaceAll('+', '\\+')} sha256:\\w+ accepted`,
      ),
    );
  });

  const digestOnly = 'binds only the digest, names no reference for signedIdentity';
  const denials: ReadonlyArray<[string, string, () => SigstoreSigner, string, string]> = [
    [
      'the same trusted bundle by default: it binds only the digest, and the reason says how to accept that',
      'referrers/digest-only',
      () => trusted,
      `${digestOnly} (to accept signatures that bind only the digest under this scope, set "acceptDigestOnlySignatures": true on the requirement)`,
      digestOnly,
    ],
    [
      'a bundle by an unknown key, saying first what was found',
      `${DIGEST_ONLY_NAMESPACE}/unknown`,
      () => unknown,
      'signed by an unknown key',
      'signed by an unknown key',
    ],
  ];
  for (const [name, repo, signer, headline, probe] of denials) {
    it(`denies ${name}`, async () => {
      const { digest, image } = await pushWithBundle(repo, signer());
      const r = await evaluate(image);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const explanation = JSON.parse(r.stdout);
      assert.equal(explanation.code, 'SIGNATURE_REJECTED');
      assert.equal(
        explanation.reason,
        `1 signature found, rejected: ${headline}; probed: tag ${digest.replace(':', '-')}.sig: no signatures; referrers: 1 artifact (1 of type ${BUNDLE_V03_MEDIA_TYPE}: ${probe})`,
      );
    });
  }

  it('denies a trusted bundle made for another digest', async () => {
    const another = parseDigest(`sha256:${createHash('sha256').update('another image').digest('hex')}`);
    const { image } = await pushWithBundle(`${DIGEST_ONLY_NAMESPACE}/other-digest`, trusted, another);
    const r = await evaluate(image);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      JSON.parse(r.stdout).reason,
      /referrers: 1 artifact \(1 of type \S+: signature for another image\)$/,
    );
  });

  it('prints the probes in the text explanation', async () => {
    const { image } = await pushWithBundle('referrers/text', unknown);
    const r = await runCli(
      [
        'policy',
        'eval',
        '--policy',
        policyPath,
        '--tls-verify=false',
        '--registries-conf',
        join(dir, 'registries.conf'),
        '--registries.d',
        join(dir, 'registries.d'),
        `docker://${image}`,
      ],
      { HOME: dir },
    );
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\n {4}probed referrers: 1 artifact/);
  });

  it('cosign sign --registry-referrers-mode=oci-1-1 satisfies the policy', {
    skip: cosignMissing,
  }, async () => {
    const repo = 'referrers/by-cosign';
    const client = new RegistryClient(registry.url, repo);
    const digest = await client.pushImage('v1');
    const { signer, privateKeyPem } = await newSigstoreSigner(PASS);
    await writeFile(join(dir, 'cosign.key'), privateKeyPem);
    await promisify(execFile)(
      cosign,
      [
        'sign',
        '--key',
        join(dir, 'cosign.key'),
        '--tlog-upload=false',
        '--registry-referrers-mode=oci-1-1',
        '--allow-insecure-registry',
        '--allow-http-registry',
        `${registry.host}/${repo}@${digest}`,
      ],
      {
        env: {
          ...process.env,
          HOME: dir,
          COSIGN_PASSWORD: 'referrers test',
          COSIGN_YES: 'true',
          COSIGN_EXPERIMENTAL: '1',
        },
      },
    );
    const policy = join(dir, 'cosign-policy.json');
    await writeFile(
      policy,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [registry.host]: [
              {
                type: 'sigstoreSigned',
                keyData: Buffer.from(signer.publicKeyPem).toString('base64'),
                // cosign signs the repository without a tag.
                signedIdentity: { type: 'matchRepository' },
              },
            ],
          },
        },
      }),
    );
    const r = await evaluate(`${registry.host}/${repo}@${digest}`, policy);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [req] = JSON.parse(r.stdout).requirements;
    assert.match(
      req.probes.at(-1),
      /application\/vnd\.dev\.cosign\.artifact\.sig\.v1\+json sha256:\w+ accepted/,
    );
    // The same signature, through cosign's own check on the signed reference.
    assert.equal(req.signatures.at(-1).dockerReference, `${registry.host}/${repo}`);
  });
});
