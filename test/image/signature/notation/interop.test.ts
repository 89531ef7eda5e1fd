// Interop with notation-go v1.3.2: test/tools/notation-sign (built by scripts/build-tools.sh into
// .cache/tools) signs images in a loopback Distribution registry as `notation sign` does (JWS or
// COSE envelopes, with or without an RFC 3161 timestamp from a TSA it serves on loopback), and
// Portcullis finds the signatures through the docker transport's referrers listing and verifies
// them. These tests skip with that note when the binary is absent.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Digest } from '../../../../src/image/digest.ts';
import {
  compileNotationTrust,
  discoverNotationSignature,
  NOTATION_ARTIFACT_TYPE,
  type NotationTrustInput,
} from '../../../../src/image/signature/notation/index.ts';
import { closeAllAgents } from '../../../../src/image/transports/docker/index.ts';
import { dockerTestEnv } from '../../../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { RegistryClient } from '../sigstore/oci.ts';
import { notationGoEnvelope, notationGoSign, notationSignMissing } from './notation-go.ts';
import { type Cert, IDENTITY, makePki, type NotationPki } from './pki.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DAY = 86_400_000;

let dir: string;
let pki: NotationPki;
let registry: TestRegistry;
let docker: Awaited<ReturnType<typeof dockerTestEnv>>;

describe('notation-go interop through a loopback registry', { skip: notationSignMissing }, () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-notation-interop-'));
    [pki, registry, docker] = await Promise.all([makePki(dir), startRegistry(), dockerTestEnv()]);
  });
  after(async () => {
    await registry?.stop();
    await docker?.cleanup();
    await closeAllAgents();
    await rm(dir, { recursive: true, force: true });
  });

  let n = 0;
  async function image(): Promise<{ repo: string; client: RegistryClient; digest: Digest; size: number }> {
    const repo = `interop/notation-${n++}`;
    const client = new RegistryClient(registry.url, repo);
    const digest = await client.pushImage('v1');
    const res = await fetch(`${registry.url}/v2/${repo}/manifests/${digest}`, {
      headers: { accept: OCI_MANIFEST },
    });
    const size = (await res.arrayBuffer()).byteLength;
    return { repo, client, digest, size };
  }

  async function sign(repo: string, digest: Digest, cert: Cert, envelope: 'jws' | 'cose', timestamp = false) {
    await notationGoSign(`${registry.host}/${repo}@${digest}`, {
      cert,
      envelope,
      ...(timestamp ? { tsa: pki } : {}),
    });
  }

  async function discover(
    repo: string,
    target: { digest: Digest; size: number },
    over: Partial<NotationTrustInput> = {},
    now?: Date,
  ) {
    const trust = compileNotationTrust({
      ca: [Buffer.from(pki.root.pem)],
      trustedIdentities: [IDENTITY],
      level: 'strict',
      ...over,
    });
    const source = await docker.transport
      .parseReference(`//${registry.host}/${repo}@${target.digest}`)
      .newImageSource(docker.ctx);
    try {
      return await discoverNotationSignature(
        source,
        { ...target, mediaType: OCI_MANIFEST },
        trust,
        now === undefined ? {} : { now },
      );
    } finally {
      await source.close();
    }
  }

  for (const envelope of ['jws', 'cose'] as const) {
    for (const [keyName, leaf] of [
      ['ECDSA P-384', () => pki.leaf],
      ['RSA-3072', () => pki.rsaLeaf],
    ] as const) {
      test(`a ${envelope} signature by notation-go (${keyName}) is found and accepted`, async () => {
        const img = await image();
        await sign(img.repo, img.digest, leaf(), envelope);
        const found = await discover(img.repo, img);
        assert.ok(found.accepted, found.probes.join('; '));
        assert.equal(found.accepted.format, envelope);
        assert.match(found.probes[0]!, /accepted$/);
      });
    }

    test(`a ${envelope} signature with a timestamp: the timestamp verifies against the TSA root`, async () => {
      const img = await image();
      await sign(img.repo, img.digest, pki.leaf, envelope, true);
      const found = await discover(img.repo, img, { tsa: [Buffer.from(pki.tsaRoot.pem)] });
      assert.ok(found.accepted?.timestampedBefore, found.probes.join('; '));
    });

    test(`a ${envelope} signature timestamped while its certificate was valid is accepted after it expired`, async () => {
      const img = await image();
      await sign(img.repo, img.digest, pki.shortLeaf, envelope, true);
      const later = new Date(Date.now() + 2 * DAY);
      const withTsa = await discover(img.repo, img, { tsa: [Buffer.from(pki.tsaRoot.pem)] }, later);
      assert.ok(withTsa.accepted, withTsa.probes.join('; '));
      const without = await discover(img.repo, img, {}, later);
      assert.equal(without.accepted, undefined);
      assert.equal(without.attempts[0]?.code, 'NOTATION_CERTIFICATE_EXPIRED');
      assert.match(without.probes[0]!, /certificate outside its validity/);
    });
  }

  const denials: [
    string,
    (img: Awaited<ReturnType<typeof image>>) => Promise<void>,
    string,
    Partial<NotationTrustInput>?,
  ][] = [
    [
      'an untrusted certificate',
      (img) => sign(img.repo, img.digest, pki.stranger, 'jws'),
      'NOTATION_UNTRUSTED',
    ],
    [
      'an identity mismatch',
      (img) => sign(img.repo, img.digest, pki.otherSubject, 'cose'),
      'NOTATION_IDENTITY_MISMATCH',
    ],
    [
      'a certificate whose revocation status cannot be determined offline',
      (img) => sign(img.repo, img.digest, pki.revocable, 'jws'),
      'NOTATION_REVOCATION_UNKNOWN',
    ],
  ];
  for (const [what, signIt, code, over] of denials) {
    test(`${what} is denied with ${code}`, async () => {
      const img = await image();
      await signIt(img);
      const found = await discover(img.repo, img, over);
      assert.equal(found.accepted, undefined);
      assert.equal(found.attempts.length, 1);
      assert.equal(found.attempts[0]!.code, code, found.attempts[0]!.reason);
    });
  }

  /** Pushes `envelope` as a Notation signature manifest of `subject`, listed in the fallback index. */
  async function pushSignature(
    client: RegistryClient,
    subject: { digest: Digest; size: number },
    envelope: Uint8Array,
    mediaType: string,
    legacy = false,
  ) {
    const empty = await client.pushBlob(Buffer.from('{}'));
    const layer = await client.pushBlob(envelope);
    // Notary Project v1.1.0 and earlier: no artifactType, the config's media type says it.
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(legacy ? {} : { artifactType: NOTATION_ARTIFACT_TYPE }),
      config: { mediaType: legacy ? NOTATION_ARTIFACT_TYPE : 'application/vnd.oci.empty.v1+json', ...empty },
      layers: [{ mediaType, ...layer }],
      subject: { mediaType: OCI_MANIFEST, ...subject },
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = await client.pushManifest(
      `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      manifest,
    );
    await client.pushIndex(subject.digest.replace(':', '-'), {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: OCI_MANIFEST, digest, size: bytes.length, artifactType: NOTATION_ARTIFACT_TYPE },
      ],
    });
  }

  test('a notation-go signature of another manifest, attached to this image, is denied (digest mismatch)', async () => {
    const img = await image();
    const out = join(dir, 'other.jws');
    const other = `sha256:${createHash('sha256').update('another manifest').digest('hex')}`;
    const descriptor = { mediaType: OCI_MANIFEST, digest: other, size: img.size };
    await notationGoEnvelope(descriptor, out, { cert: pki.leaf, envelope: 'jws' });
    await pushSignature(img.client, img, await readFile(out), 'application/jose+json');
    const found = await discover(img.repo, img);
    assert.equal(found.attempts[0]?.code, 'NOTATION_DIGEST_MISMATCH');
    assert.match(found.probes[0]!, /signature for another image/);
  });

  test('a signature manifest in the older layout (config media type, no artifactType) is read', async () => {
    const img = await image();
    const out = join(dir, 'legacy.cose');
    const descriptor = { mediaType: OCI_MANIFEST, digest: img.digest, size: img.size };
    await notationGoEnvelope(descriptor, out, { cert: pki.leaf, envelope: 'cose' });
    await pushSignature(img.client, img, await readFile(out), 'application/cose', true);
    const found = await discover(img.repo, img);
    assert.ok(found.accepted, found.probes.join('; '));
  });

  for (const envelope of ['jws', 'cose'] as const) {
    test(`a tampered ${envelope} envelope from notation-go is denied`, async () => {
      const img = await image();
      const out = join(dir, `tampered.${envelope}`);
      const descriptor = { mediaType: OCI_MANIFEST, digest: img.digest, size: img.size };
      await notationGoEnvelope(descriptor, out, { cert: pki.leaf, envelope });
      const bytes = await readFile(out);
      if (envelope === 'jws') {
        const env = JSON.parse(bytes.toString());
        const sig = Buffer.from(env.signature, 'base64url');
        sig[5]! ^= 1;
        env.signature = sig.toString('base64url');
        await pushSignature(img.client, img, Buffer.from(JSON.stringify(env)), 'application/jose+json');
      } else {
        bytes[bytes.length - 5]! ^= 1;
        await pushSignature(img.client, img, bytes, 'application/cose');
      }
      const found = await discover(img.repo, img);
      assert.equal(found.attempts[0]?.code, 'NOTATION_SIGNATURE_INVALID');
    });
  }

  test('an image with several rejected signatures reports why each failed', async () => {
    const img = await image();
    await sign(img.repo, img.digest, pki.stranger, 'jws');
    await sign(img.repo, img.digest, pki.otherSubject, 'cose');
    const found = await discover(img.repo, img);
    assert.equal(found.accepted, undefined);
    assert.deepEqual(found.attempts.map((a) => a.code).sort(), [
      'NOTATION_IDENTITY_MISMATCH',
      'NOTATION_UNTRUSTED',
    ]);
    assert.match(found.probes[0]!, /^referrers: 2 notation signatures \(/);
  });

  test('an unsigned image has no notation signatures', async () => {
    const img = await image();
    const found = await discover(img.repo, img);
    assert.deepEqual(found.probes, ['referrers: no notation signatures']);
    assert.equal(found.incomplete, false);
  });
});
