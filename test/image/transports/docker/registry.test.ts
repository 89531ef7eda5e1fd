// The docker transport against the real Distribution registry (anonymous access).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { type Digest, digestOf, verifyingStream } from '../../../../src/image/index.ts';
import {
  closeAllAgents,
  DockerError,
  type DockerImageSource,
  RegistryClient,
} from '../../../../src/image/transports/docker/index.ts';
import { clearPingCache } from '../../../../src/image/transports/docker/ping.ts';
import { TAG_SNAPSHOT_MAX_AGE_MS } from '../../../../src/image/transports/docker/source.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../../../helpers/docker-env.ts';
import { startFaultProxy } from '../../../helpers/fault-proxy.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { pushWithFetch, syntheticImage } from '../../../helpers/synthetic-image.ts';

let registry: TestRegistry;
let env: DockerTestEnv;

before(async () => {
  registry = await startRegistry({ accessLog: true });
  env = await dockerTestEnv();
});
after(async () => {
  await registry.stop();
  await env.cleanup();
  await closeAllAgents();
});

const ref = (s: string) => env.transport.parseReference(`//${registry.host}/${s}`);

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('docker transport: push and pull round trip', () => {
  it('writes an image and reads back identical manifest and blobs', async () => {
    const image = syntheticImage();
    const dest = await ref('round/trip:v1').newImageDestination(env.ctx);
    await putImage(dest, image);
    await dest.close();
    const src = (await ref('round/trip:v1').newImageSource(env.ctx)) as DockerImageSource;
    const m = await src.getManifest();
    assert.deepEqual(Buffer.from(m.manifest), image.manifest);
    assert.equal(m.mimeType, image.mimeType);
    assert.equal(await src.manifestDigest(), image.manifestDigest);
    for (const b of [image.config, ...image.layers]) {
      const { stream, size } = await src.getBlob({ digest: b.digest, size: b.bytes.length });
      assert.equal(size, b.bytes.length);
      assert.deepEqual(await readAll(stream), b.bytes);
    }
    await src.close();
  });

  it('reads an image by digest and verifies it', async () => {
    const image = syntheticImage();
    await pushWithFetch(registry.url, 'by/digest', 'x', image);
    const src = await ref(`by/digest@${image.manifestDigest}`).newImageSource(env.ctx);
    assert.deepEqual(Buffer.from((await src.getManifest()).manifest), image.manifest);
  });

  it('resolves a tag to its digest with HEAD', async () => {
    const image = syntheticImage();
    await pushWithFetch(registry.url, 'head/tag', 'v1', image);
    const src = (await ref('head/tag:v1').newImageSource(env.ctx)) as DockerImageSource;
    assert.equal(await src.client.resolveDigest('head/tag', 'v1'), image.manifestDigest);
  });

  it('uploads a blob of unknown digest through PATCH and reports its digest', async () => {
    const dest = await ref('patch/upload:v1').newImageDestination(env.ctx);
    const bytes = Buffer.from('blob with unknown digest');
    const stored = await dest.putBlob(Readable.from([bytes]), { size: -1 }, { isConfig: false });
    assert.equal(stored.digest, digestOf(bytes));
    assert.equal(stored.size, bytes.length);
    assert.deepEqual(
      await dest.tryReusingBlob({ digest: stored.digest, size: -1 }, { canSubstitute: false }),
      {
        digest: stored.digest,
        size: bytes.length,
      },
    );
  });

  for (const size of [0, 65_536, 300_000]) {
    it(`uploads a ${size}-byte blob of unknown size in 64 KiB PATCH chunks`, async () => {
      const client = new RegistryClient({
        registry: registry.host,
        insecure: true,
        tls: { verify: true },
        uploadChunkSize: 65_536,
      });
      const bytes = randomBytes(size);
      const parts = [bytes.subarray(0, 1000), bytes.subarray(1000, 100_000), bytes.subarray(100_000)].filter(
        (b) => b.length > 0,
      );
      const stored = await client.putBlob('chunked/upload', Readable.from(parts), undefined, -1);
      assert.equal(stored.digest, digestOf(bytes));
      const res = await fetch(`${registry.url}/v2/chunked/upload/blobs/${stored.digest}`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    });
  }

  it('refuses a blob whose bytes do not match the digest given, and stores nothing', async () => {
    const dest = await ref('bad/blob:v1').newImageDestination(env.ctx);
    const claimed = digestOf('something else');
    await assert.rejects(
      dest.putBlob(
        Readable.from([Buffer.from('actual bytes')]),
        { digest: claimed, size: 12 },
        { isConfig: false },
      ),
      (e: unknown) =>
        e instanceof DockerError && (e.code === 'DIGEST_INVALID' || e.code === 'DIGEST_MISMATCH'),
    );
    assert.equal(
      await dest.tryReusingBlob({ digest: claimed, size: 12 }, { canSubstitute: false }),
      undefined,
    );
  });

  it('mounts a blob from another repository instead of uploading it', async () => {
    const image = syntheticImage();
    await pushWithFetch(registry.url, 'mount/from', 'v1', image);
    const src = await ref('mount/from:v1').newImageSource(env.ctx);
    const layer = image.layers[0]!;
    await readAll((await src.getBlob({ digest: layer.digest, size: layer.bytes.length })).stream);
    const dest = await ref('mount/to:v1').newImageDestination(env.ctx);
    const reused = await dest.tryReusingBlob(
      { digest: layer.digest, size: layer.bytes.length },
      { canSubstitute: false },
    );
    assert.deepEqual(reused, { digest: layer.digest, size: layer.bytes.length });
    const head = await fetch(`${registry.url}/v2/mount/to/blobs/${layer.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('reports a blob the registry does not have as BLOB_UNKNOWN', async () => {
    const image = syntheticImage();
    await pushWithFetch(registry.url, 'missing/blob', 'v1', image);
    const src = await ref('missing/blob:v1').newImageSource(env.ctx);
    await assert.rejects(src.getBlob({ digest: digestOf('nope'), size: 4 }), { code: 'BLOB_UNKNOWN' });
  });
});

describe('docker transport: registry errors are typed', () => {
  const table: { name: string; image: string; code: string }[] = [
    { name: 'unknown tag', image: 'errs/known:nope', code: 'MANIFEST_UNKNOWN' },
    { name: 'unknown repository', image: 'errs/never:v1', code: 'NAME_UNKNOWN' },
    { name: 'unknown digest', image: `errs/known@${digestOf('x')}`, code: 'MANIFEST_UNKNOWN' },
  ];
  before(async () => pushWithFetch(registry.url, 'errs/known', 'v1', syntheticImage()));
  for (const t of table) {
    it(`${t.name} is ${t.code}`, async () => {
      await assert.rejects(ref(t.image).newImageSource(env.ctx), (e: unknown) => {
        assert.ok(e instanceof DockerError);
        assert.ok(
          t.code === e.code || (t.code === 'NAME_UNKNOWN' && e.code === 'MANIFEST_UNKNOWN'),
          `got ${e.code}`,
        );
        return true;
      });
    });
  }
});

describe('docker transport: tags, delete, referrers', () => {
  it('lists many tags across Link-paginated pages', async () => {
    const image = syntheticImage();
    await pushWithFetch(registry.url, 'many/tags', 't000', image);
    const want = ['t000'];
    for (let i = 1; i < 120; i++) {
      const tag = `t${String(i).padStart(3, '0')}`;
      want.push(tag);
      const res = await fetch(`${registry.url}/v2/many/tags/manifests/${tag}`, {
        method: 'PUT',
        headers: { 'content-type': image.mimeType },
        body: image.manifest,
      });
      await res.arrayBuffer();
    }
    const src = (await ref('many/tags:t000').newImageSource(env.ctx)) as DockerImageSource;
    const tags = await src.client.listTags('many/tags', { pageSize: 25 });
    assert.deepEqual([...tags].sort(), want);
    await assert.rejects(src.client.listTags('many/tags', { pageSize: 25, maxTags: 50 }), {
      code: 'TOO_LARGE',
    });
  });

  it('lists the catalog of repositories', async () => {
    await pushWithFetch(registry.url, 'catalog/one', 'v1', syntheticImage({ layers: 1 }));
    const src = (await ref('catalog/one:v1').newImageSource(env.ctx)) as DockerImageSource;
    assert.ok((await src.client.catalog()).includes('catalog/one'));
  });

  it('deletes an image by the digest of its tag', async () => {
    const image = syntheticImage();
    await pushWithFetch(registry.url, 'del/me', 'v1', image);
    await ref('del/me:v1').deleteImage(env.ctx);
    const res = await fetch(`${registry.url}/v2/del/me/manifests/${image.manifestDigest}`);
    await res.arrayBuffer();
    assert.equal(res.status, 404);
  });

  it('falls back to the sha256-<hex> tag schema for referrers and filters by artifactType', async () => {
    const image = syntheticImage();
    await pushWithFetch(registry.url, 'refs/repo', 'v1', image);
    // Distribution 2.8 checks that index children exist: push two artifacts to point at.
    const artifact = async (type: string, tag: string) => {
      const a = syntheticImage({ layers: 1 });
      await pushWithFetch(registry.url, 'refs/repo', tag, a);
      return { mediaType: a.mimeType, digest: a.manifestDigest, size: a.manifest.length, artifactType: type };
    };
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          await artifact('application/vnd.dev.sigstore.bundle.v0.3+json', 'a1'),
          await artifact('application/spdx+json', 'a2'),
        ],
      }),
    );
    const put = await fetch(
      `${registry.url}/v2/refs/repo/manifests/${image.manifestDigest.replace(':', '-')}`,
      {
        method: 'PUT',
        headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
        body: index,
      },
    );
    assert.equal(put.status, 201, await put.text());
    const src = await ref('refs/repo:v1').newImageSource(env.ctx);
    const all = await src.listReferrers!(image.manifestDigest);
    assert.equal(all.length, 2);
    const bundles = await src.listReferrers!(
      image.manifestDigest,
      'application/vnd.dev.sigstore.bundle.v0.3+json',
    );
    assert.deepEqual(
      bundles.map((d) => d.artifactType),
      ['application/vnd.dev.sigstore.bundle.v0.3+json'],
    );
    assert.deepEqual(await src.listReferrers!(digestOf('no referrers')), []);
  });
});

describe('docker transport: referrers on a registry without the API', () => {
  it('asks the referrers API once per registry, then goes straight to the tag schema', async () => {
    const front = await recordingFront(registry);
    try {
      const client = new RegistryClient({ registry: front.host, insecure: true, tls: { verify: true } });
      const images = [syntheticImage(), syntheticImage()];
      for (const [i, image] of images.entries())
        await pushWithFetch(registry.url, 'refs/once', `v${i}`, image);
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            {
              mediaType: images[0]!.mimeType,
              digest: images[0]!.manifestDigest,
              size: images[0]!.manifest.length,
              artifactType: 'application/spdx+json',
            },
          ],
        }),
      );
      const put = await fetch(
        `${registry.url}/v2/refs/once/manifests/${images[1]!.manifestDigest.replace(':', '-')}`,
        {
          method: 'PUT',
          headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
          body: index,
        },
      );
      assert.equal(put.status, 201, await put.text());
      assert.deepEqual(await client.listReferrers('refs/once', images[0]!.manifestDigest), []);
      const second = await client.listReferrers('refs/once', images[1]!.manifestDigest);
      assert.deepEqual(
        second.map((d) => d.digest),
        [images[0]!.manifestDigest],
      );
      const apiCalls = front.seen.filter((r) => r.path.includes('/referrers/'));
      assert.equal(apiCalls.length, 1, JSON.stringify(front.seen));
    } finally {
      await front.stop();
    }
  });
});

describe('docker transport: blob streams', () => {
  it('fails the stream when the registry serves bytes that do not match the digest asked for', async () => {
    const image = syntheticImage();
    await pushWithFetch(registry.url, 'verify/blob', 'v1', image);
    const src = await ref('verify/blob:v1').newImageSource(env.ctx);
    const layer = image.layers[0]!;
    // ask for the layer with the wrong size: the verifier must refuse it
    const { stream } = await src.getBlob({ digest: layer.digest, size: layer.bytes.length + 1 });
    await assert.rejects(text(stream), { code: 'DIGEST_MISMATCH' });
  });
});

describe('docker transport: tag snapshots', () => {
  const cases: { name: string; repository?: string; ageMs: number; asks: boolean }[] = [
    { name: 'a fresh listing of the repository lacking them', ageMs: 0, asks: false },
    { name: 'a listing past its age limit', ageMs: TAG_SNAPSHOT_MAX_AGE_MS + 1000, asks: true },
    { name: 'a listing of another repository', repository: 'snap/other', ageMs: 0, asks: true },
  ];
  for (const c of cases) {
    it(`signature and referrer tags are ${c.asks ? '' : 'not '}asked for with ${c.name}`, async () => {
      const image = syntheticImage();
      const repo = `snap/${c.ageMs}-${c.repository === undefined ? 'same' : 'other'}`;
      await pushWithFetch(registry.url, repo, 'v1', image);
      const src = (await ref(`${repo}:v1`).newImageSource(env.ctx)) as DockerImageSource;
      src.useTagSnapshot({
        repository: `${registry.host}/${c.repository ?? repo}`,
        tags: new Set(['v1']),
        listedAt: Date.now() - c.ageMs,
      });
      const start = registry.log().length;
      try {
        assert.deepEqual(await src.getSignatures(), []);
        assert.deepEqual(await src.listReferrers(image.manifestDigest), []);
      } finally {
        await src.close();
      }
      const tag = image.manifestDigest.replace(':', '-');
      const asked = registry.log().slice(start);
      assert.equal(asked.includes(`/manifests/${tag}.sig `), c.asks, asked);
      assert.equal(asked.includes(`/manifests/${tag} `), c.asks, asked);
    });
  }
});

describe('docker transport: connections', () => {
  it('HEADs of blobs and tags, present or not, leave their connection for the next request', async () => {
    const image = syntheticImage();
    await pushWithFetch(registry.url, 'keep/alive', 'v1', image);
    const src = (await ref('keep/alive:v1').newImageSource(env.ctx)) as DockerImageSource;
    const layer = image.layers[0]!;
    const missing = `sha256:${'0'.repeat(64)}` as Digest;
    // A fresh pool, so that every connection opened below is counted.
    await closeAllAgents();
    let connects = 0;
    const count = () => connects++;
    subscribe('undici:client:connected', count);
    try {
      for (let i = 0; i < 3; i++) {
        assert.equal(await src.client.headBlob('keep/alive', layer.digest), layer.bytes.length);
        assert.equal(await src.client.headBlob('keep/alive', missing), undefined);
        assert.equal(await src.client.resolveDigest('keep/alive', 'v1'), image.manifestDigest);
        await assert.rejects(src.client.resolveDigest('keep/alive', 'absent'), { code: 'MANIFEST_UNKNOWN' });
      }
    } finally {
      unsubscribe('undici:client:connected', count);
      await src.close();
    }
    // A pool may open a second connection while the first finishes its answer; never one per HEAD.
    assert.ok(connects <= 2, `${connects} connections for 12 HEADs`);
  });
});

interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly contentLength: string | undefined;
  readonly transferEncoding: string | undefined;
}

/** A pass-through front for the real registry that records how each request was framed. */
async function recordingFront(
  target: TestRegistry,
): Promise<{ url: string; host: string; seen: SeenRequest[]; stop(): Promise<void> }> {
  const seen: SeenRequest[] = [];
  const front = await startFaultProxy(target);
  front.set(({ method, path, headers }) => {
    seen.push({
      method,
      path: path.split('?', 1)[0] ?? '',
      contentLength: headers['content-length'],
      transferEncoding: headers['transfer-encoding'],
    });
    return { kind: 'pass' };
  });
  return { url: `http://${front.host}`, host: front.host, seen, stop: () => front.stop() };
}

/** `bytes` in 1 MiB chunks, verified against `digest` as they flow (the copy engine's source side). */
function verifiedStream(bytes: Buffer, digest: Digest): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 1 << 20) chunks.push(bytes.subarray(at, at + (1 << 20)));
  return Readable.from(chunks, { objectMode: false }).pipe(
    verifyingStream(digest, { expectedSize: bytes.length }),
  );
}

describe('docker transport: uploads of verified streams', () => {
  // Above the 32 MiB single-PUT bound, as the layers of a real image usually are.
  const large = randomBytes((33 << 20) + 5);

  it('sends a large verified blob as one PATCH with a Content-Length, then PUT with the digest', async () => {
    const front = await recordingFront(registry);
    try {
      const client = new RegistryClient({ registry: front.host, insecure: true, tls: { verify: true } });
      const digest = digestOf(large);
      const stored = await client.putBlob(
        'verified/large',
        verifiedStream(large, digest),
        digest,
        large.length,
        {
          streamVerified: true,
        },
      );
      assert.deepEqual(stored, { digest, size: large.length });
      const uploads = front.seen.filter((r) => r.path.includes('/blobs/uploads/'));
      assert.deepEqual(
        uploads.map((r) => [r.method, r.contentLength, r.transferEncoding]),
        [
          ['POST', '0', undefined],
          ['PATCH', String(large.length), undefined],
          ['PUT', '0', undefined],
        ],
      );
      const res = await fetch(`${registry.url}/v2/verified/large/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(res.headers.get('content-length'), String(large.length));
    } finally {
      await front.stop();
    }
  });

  it('sends one ping for many requests a fresh client starts at once', async () => {
    clearPingCache();
    const front = await recordingFront(registry);
    try {
      const client = new RegistryClient({ registry: front.host, insecure: true, tls: { verify: true } });
      const absent = Array.from({ length: 6 }, (_, i) => digestOf(`absent ${i}`));
      assert.deepEqual(
        await Promise.all(absent.map((d) => client.headBlob('ping/once', d))),
        absent.map(() => undefined),
      );
      assert.equal(front.seen.filter((r) => r.path === '/v2/').length, 1);
      assert.equal(front.seen.filter((r) => r.method === 'HEAD').length, 6);
    } finally {
      await front.stop();
    }
  });

  for (const [name, bytes] of [
    ['a small blob (single PUT)', randomBytes(100_000)],
    ['a large blob (PATCH)', large],
  ] as const) {
    it(`stores nothing when ${name} fails its digest at the end of the stream`, async () => {
      const claimed = digestOf(bytes);
      const corrupt = Buffer.from(bytes);
      corrupt[corrupt.length - 1] = (corrupt.at(-1) ?? 0) ^ 0xff;
      const dest = await ref('verified/corrupt:v1').newImageDestination(env.ctx);
      await assert.rejects(
        dest.putBlob(
          verifiedStream(corrupt, claimed),
          { digest: claimed, size: bytes.length },
          { isConfig: false, streamVerified: true },
        ),
        (e: unknown) =>
          (e as { code?: unknown }).code === 'DIGEST_MISMATCH' ||
          (e as { code?: unknown }).code === 'DIGEST_INVALID',
      );
      for (const digest of [claimed, digestOf(corrupt)]) {
        const res = await fetch(`${registry.url}/v2/verified/corrupt/blobs/${digest}`, { method: 'HEAD' });
        assert.equal(res.status, 404, digest);
      }
    });
  }

  it('completes when the verified stream reports its end only after the registry answered', async () => {
    const digest = digestOf(large);
    let given = false;
    const late = new Readable({
      read() {
        if (given) return;
        given = true;
        this.push(large);
        setTimeout(() => this.push(null), 300);
      },
    });
    const dest = await ref('verified/late:v1').newImageDestination(env.ctx);
    const stored = await dest.putBlob(
      late,
      { digest, size: large.length },
      { isConfig: false, streamVerified: true },
    );
    assert.deepEqual(stored, { digest, size: large.length });
  });

  it('stores nothing when a large verified stream breaks off before its end', async () => {
    const digest = digestOf(large);
    // 10 MiB, then the pull breaks off once the upload has read them.
    let given = false;
    const source = new Readable({
      read() {
        if (given) setImmediate(() => this.destroy(new DockerError('SHORT_BODY', 'pull broke off')));
        else this.push(large.subarray(0, 10 << 20));
        given = true;
      },
    });
    const dest = await ref('verified/short:v1').newImageDestination(env.ctx);
    await assert.rejects(
      dest.putBlob(source, { digest, size: large.length }, { isConfig: false, streamVerified: true }),
      { code: 'SHORT_BODY' },
    );
    const res = await fetch(`${registry.url}/v2/verified/short/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(res.status, 404);
  });
});
