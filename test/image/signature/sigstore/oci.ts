// A minimal registry client for tests: pushes synthetic images, cosign attachments and OCI 1.1
// referrers with plain HTTP, independent of the docker transport under test.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before } from 'node:test';
import { gzipSync } from 'node:zlib';
import { type Digest, parseDigest } from '../../../../src/image/digest.ts';
import { compileSigstoreTrust, type SigstoreTrust } from '../../../../src/image/signature/sigstore/trust.ts';
import { closeAllAgents } from '../../../../src/image/transports/docker/index.ts';
import type { ImageSource, Signature } from '../../../../src/image/types.ts';
import { type DockerTestEnv, dockerTestEnv } from '../../../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';

interface AttachmentLayer {
  mediaType: string;
  digest: string;
  annotations?: Record<string, string>;
}

/** Just enough of the registry API to push synthetic images and read attachments. */
export class RegistryClient {
  readonly url: string;
  readonly repo: string;

  constructor(url: string, repo: string) {
    this.url = url;
    this.repo = repo;
  }

  async pushBlob(bytes: Uint8Array): Promise<{ digest: string; size: number }> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const start = await fetch(`${this.url}/v2/${this.repo}/blobs/uploads/`, { method: 'POST' });
    await start.arrayBuffer();
    const location = new URL(start.headers.get('location')!, this.url);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, {
      method: 'PUT',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    await put.arrayBuffer();
    assert.equal(put.status, 201, `pushing blob ${digest}`);
    return { digest, size: bytes.length };
  }

  async pushManifest(reference: string, manifest: object): Promise<Digest> {
    const bytes = Buffer.from(JSON.stringify(manifest));
    const res = await fetch(`${this.url}/v2/${this.repo}/manifests/${reference}`, {
      method: 'PUT',
      body: bytes,
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    await res.arrayBuffer();
    assert.equal(res.status, 201, `pushing manifest ${reference}`);
    return parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  }

  async getJson(path: string): Promise<{ layers: AttachmentLayer[] }> {
    const res = await fetch(`${this.url}/v2/${this.repo}/${path}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(res.status, 200, `GET ${path}`);
    return (await res.json()) as { layers: AttachmentLayer[] };
  }

  async getBlob(digest: string): Promise<Buffer> {
    const res = await fetch(`${this.url}/v2/${this.repo}/blobs/${digest}`);
    assert.equal(res.status, 200, `GET blob ${digest}`);
    return Buffer.from(await res.arrayBuffer());
  }

  /** A one-layer OCI image tagged `tag`; returns its manifest digest. */
  async pushImage(tag: string): Promise<Digest> {
    const layer = await this.pushBlob(gzipSync(Buffer.from('interop layer')));
    const config = await this.pushBlob(
      Buffer.from(
        JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
      ),
    );
    return this.pushManifest(tag, {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    });
  }

  /** The cosign attachment layout containers/image writes: one layer per signature. */
  async pushAttachment(digest: Digest, sig: Signature): Promise<void> {
    assert.ok(sig.format === 'sigstore-json');
    const layer = await this.pushBlob(sig.payload);
    const config = await this.pushBlob(
      Buffer.from(
        JSON.stringify({
          architecture: '',
          os: '',
          config: {},
          rootfs: { type: 'layers', diff_ids: [layer.digest] },
        }),
      ),
    );
    await this.pushManifest(`${digest.replace(':', '-')}.sig`, {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: sig.mimeType, ...layer, annotations: sig.annotations }],
    });
  }

  /**
   * An OCI 1.1 referrer of `subject` carrying `bundle` as its one layer (cosign v3's layout),
   * listed in the `sha256-<hex>` fallback index, as registries without the referrers API need.
   */
  /** `annotations.manifest` go on the referrer manifest, `annotations.index` on its listing entry. */
  async pushReferrer(
    subject: Digest,
    bundle: Uint8Array,
    artifactType: string,
    previous: object[] = [],
    annotations: { manifest?: Record<string, string>; index?: Record<string, string> } = {},
  ): Promise<object[]> {
    const empty = await this.pushBlob(Buffer.from('{}'));
    const layer = await this.pushBlob(bundle);
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
      layers: [{ mediaType: artifactType, ...layer }],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: 0 },
      ...(annotations.manifest === undefined ? {} : { annotations: annotations.manifest }),
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    // By digest, untagged, as cosign and notation push referrers.
    const digest = await this.pushManifest(
      `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      manifest,
    );
    const entries = [
      ...previous,
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest,
        size: bytes.length,
        artifactType,
        ...(annotations.index === undefined ? {} : { annotations: annotations.index }),
      },
    ];
    await this.pushIndex(subject.replace(':', '-'), {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: entries,
    });
    return entries;
  }

  async pushIndex(reference: string, index: object): Promise<Digest> {
    const bytes = Buffer.from(JSON.stringify(index));
    const res = await fetch(`${this.url}/v2/${this.repo}/manifests/${reference}`, {
      method: 'PUT',
      body: bytes,
      headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
    });
    await res.arrayBuffer();
    assert.equal(res.status, 201, `pushing index ${reference}`);
    return parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  }

  /** Every layer of the `sha256-<hex>.sig` attachment as a Signature. */
  async readAttachment(digest: Digest): Promise<Signature[]> {
    const manifest = await this.getJson(`manifests/${digest.replace(':', '-')}.sig`);
    return Promise.all(
      manifest.layers.map(
        async (l: { mediaType: string; digest: string; annotations?: Record<string, string> }) => ({
          format: 'sigstore-json' as const,
          mimeType: l.mediaType,
          payload: await this.getBlob(l.digest),
          annotations: l.annotations ?? {},
        }),
      ),
    );
  }
}

/**
 * A loopback registry and the real docker transport for discovery tests, started before and
 * stopped after the file's tests: `trust` accepts `trusted`'s key; `push(repo)` pushes an image
 * and opens a source on it by digest.
 */
export function discoveryRegistry(trusted: { publicKey: import('node:crypto').KeyObject }) {
  let registry: TestRegistry;
  let env: DockerTestEnv;
  const sources: ImageSource[] = [];
  const state = { trust: undefined as unknown as SigstoreTrust, host: '' };
  before(async () => {
    registry = await startRegistry();
    env = await dockerTestEnv();
    state.host = registry.host;
    const pem = trusted.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    state.trust = await compileSigstoreTrust({ keyData: Buffer.from(pem).toString('base64') }, () =>
      Promise.reject(new Error('no files')),
    );
  });
  after(async () => {
    for (const s of sources) await s.close();
    await registry.stop();
    await env.cleanup();
    await closeAllAgents();
  });
  return {
    state,
    async push(repo: string) {
      const client = new RegistryClient(registry.url, repo);
      const digest = await client.pushImage('v1');
      const source = await env.transport
        .parseReference(`//${registry.host}/${repo}@${digest}`)
        .newImageSource(env.ctx);
      sources.push(source);
      return { client, digest, source, name: `${registry.host}/${repo}` };
    },
  };
}
