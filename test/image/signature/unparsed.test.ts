// imagesToEvaluate: what policy evaluation judges when a reference names a manifest list.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Digest,
  digestOf,
  type InstanceSelection,
  imagesToEvaluate,
  OCI_INDEX_MEDIA_TYPE,
  type Signature,
  type UnparsedImage,
} from '../../../src/image/index.ts';
import { dockerLikeReference } from './helpers.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const host = { os: 'linux', architecture: 'amd64', variant: '' };
const instanceDigest = (name: string) => digestOf(Buffer.from(name));
const amd64 = instanceDigest('amd64');
const arm64 = instanceDigest('arm64');
const attestation = instanceDigest('attestation');
const index = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX_MEDIA_TYPE,
    manifests: [
      { mediaType: OCI_MANIFEST, digest: amd64, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: OCI_MANIFEST, digest: arm64, size: 1, platform: { os: 'linux', architecture: 'arm64' } },
      {
        mediaType: OCI_MANIFEST,
        digest: attestation,
        size: 1,
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
      },
    ],
  }),
);
const listSignature: Signature = { format: 'simple-signing', blob: new Uint8Array([1]) };

function top(manifest: Buffer, mimeType: string): UnparsedImage & { reads: number } {
  const image = {
    reads: 0,
    reference: dockerLikeReference('registry.example/app:v1'),
    async manifest() {
      image.reads++;
      return { manifest, mimeType };
    },
    signatures: async () => [listSignature],
  };
  return image;
}

const forInstance = (digest: Digest) => ({
  manifest: async () => ({ manifest: Buffer.from(digest), mimeType: OCI_MANIFEST }),
  signatures: async (): Promise<Signature[]> => [{ format: 'simple-signing', blob: Buffer.from(digest) }],
});

const platforms = (...archs: string[]): InstanceSelection => ({
  kind: 'platforms',
  platforms: archs.map((architecture) => ({ os: 'linux', architecture })),
});

describe('imagesToEvaluate', () => {
  it('an image that is not a list is judged itself, its manifest read once', async () => {
    const image = top(Buffer.from('{"schemaVersion":2}'), OCI_MANIFEST);
    const chosen = await imagesToEvaluate(image, forInstance, platforms('arm64'), host);
    assert.equal(chosen.images.length, 1);
    assert.equal(chosen.images[0]?.instance, undefined);
    await chosen.images[0]?.manifest();
    assert.equal(image.reads, 1);
  });

  const table: [string, InstanceSelection, Digest[], string[]][] = [
    ['one platform', platforms('arm64'), [arm64], []],
    ['an alias of the architecture', platforms('aarch64'), [arm64], []],
    ['the same instance twice is judged once', platforms('amd64', 'x86_64'), [amd64], []],
    ['a platform the list lacks is reported missing', platforms('s390x', 'amd64'), [amd64], ['linux/s390x']],
    ['all: every image instance, attestations skipped', { kind: 'all' }, [amd64, arm64], []],
  ];
  for (const [name, selection, digests, missing] of table) {
    it(`a list: ${name}`, async () => {
      const chosen = await imagesToEvaluate(top(index, OCI_INDEX_MEDIA_TYPE), forInstance, selection, host);
      assert.deepEqual(
        chosen.images.map((i) => i.instance?.digest),
        digests,
      );
      assert.deepEqual(chosen.missing, missing);
      assert.equal(chosen.list, digestOf(index));
      assert.deepEqual(chosen.offered, ['linux/amd64', 'linux/arm64', 'unknown/unknown']);
    });
  }

  it('an instance that is itself a list is refused when its manifest is read', async () => {
    const nested = (digest: Digest) => ({
      ...forInstance(digest),
      manifest: async () => ({ manifest: index, mimeType: OCI_INDEX_MEDIA_TYPE }),
    });
    const chosen = await imagesToEvaluate(top(index, OCI_INDEX_MEDIA_TYPE), nested, platforms('amd64'), host);
    await assert.rejects(chosen.images[0]!.manifest(), { code: 'MANIFEST_UNSUPPORTED_TYPE' });
  });

  it("an instance is read by its own digest; its list's signatures stay the list's", async () => {
    const chosen = await imagesToEvaluate(
      top(index, OCI_INDEX_MEDIA_TYPE),
      forInstance,
      platforms('arm64'),
      host,
    );
    const [image] = chosen.images;
    assert.ok(image?.instance !== undefined);
    assert.equal(image.reference.dockerReference()?.toString(), 'registry.example/app:v1');
    assert.equal(image.instance.platform, 'linux/arm64');
    assert.deepEqual(Buffer.from((await image.manifest()).manifest).toString(), arm64);
    assert.deepEqual(await image.signatures(), [{ format: 'simple-signing', blob: Buffer.from(arm64) }]);
    assert.deepEqual(await image.instance.list.signatures(), [listSignature]);
    assert.equal(image.instance.list.digest, digestOf(index));
  });
});
