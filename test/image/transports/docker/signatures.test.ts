// Signatures on docker sources and destinations: lookaside (file://), sigstore attachments, the
// X-Registry-Supports-Signatures extension.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { digestHex, digestOf, type Signature } from '../../../../src/image/index.ts';
import { closeAllAgents } from '../../../../src/image/transports/docker/index.ts';
import { sharedRegistrySession } from '../../../../src/image/transports/docker/session.ts';
import { readLookaside } from '../../../../src/image/transports/docker/signatures.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../../../helpers/docker-env.ts';
import { startFaultRegistry } from '../../../helpers/fault-registry.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { pushWithFetch, syntheticImage } from '../../../helpers/synthetic-image.ts';

let registry: TestRegistry;
let env: DockerTestEnv;

before(async () => {
  registry = await startRegistry();
  env = await dockerTestEnv();
});
after(async () => {
  await registry.stop();
  await env.cleanup();
  await closeAllAgents();
});

const ref = (s: string) => env.transport.parseReference(`//${registry.host}/${s}`);
const cosign = (payload: string, extra: Record<string, string> = {}): Signature => ({
  format: 'sigstore-json',
  mimeType: 'application/vnd.dev.cosign.simplesigning.v1+json',
  payload: Buffer.from(payload),
  annotations: {
    'dev.cosignproject.cosign/signature': Buffer.from(`sig of ${payload}`).toString('base64'),
    ...extra,
  },
});

describe('sigstore attachments', () => {
  it('writes signatures as layers of the sha256-<hex>.sig manifest and reads them back', async () => {
    const image = syntheticImage();
    const dest = await ref('sig/store:v1').newImageDestination(env.ctx);
    await putImage(dest, image);
    await dest.putSignatures([cosign('one')]);
    await dest.putSignatures([cosign('two'), cosign('one')]);
    const src = await ref('sig/store:v1').newImageSource(env.ctx);
    const sigs = await src.getSignatures();
    assert.deepEqual(
      sigs.map((s) => (s.format === 'sigstore-json' ? Buffer.from(s.payload).toString() : 'simple')),
      ['one', 'two'],
    );
    const tag = `${image.manifestDigest.replace(':', '-')}.sig`;
    const res = await fetch(`${registry.url}/v2/sig/store/manifests/${tag}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    const manifest = (await res.json()) as { config: { digest: string }; layers: { digest: string }[] };
    const config = (await (
      await fetch(`${registry.url}/v2/sig/store/blobs/${manifest.config.digest}`)
    ).json()) as {
      rootfs: { type: string; diff_ids: string[] };
    };
    assert.deepEqual(config, {
      architecture: '',
      os: '',
      config: {},
      rootfs: { type: 'layers', diff_ids: manifest.layers.map((l) => l.digest) },
    });
  });

  it('returns non-signature layers too (the verifier skips them)', async () => {
    const image = syntheticImage();
    const dest = await ref('sig/other:v1').newImageDestination(env.ctx);
    await putImage(dest, image);
    await dest.putSignatures([
      { format: 'sigstore-json', mimeType: 'text/plain', payload: Buffer.from('note'), annotations: {} },
    ]);
    const sigs = await (await ref('sig/other:v1').newImageSource(env.ctx)).getSignatures();
    assert.equal(sigs.length, 1);
    assert.equal(sigs[0]?.format === 'sigstore-json' ? sigs[0].mimeType : '', 'text/plain');
  });

  it('an image without attachments has no signatures', async () => {
    const image = syntheticImage();
    await pushWithFetch(registry.url, 'sig/none', 'v1', image);
    assert.deepEqual(await (await ref('sig/none:v1').newImageSource(env.ctx)).getSignatures(), []);
  });

  it('honours an explicit use-sigstore-attachments: false', async () => {
    const image = syntheticImage();
    const dest = await ref('sig/off:v1').newImageDestination(env.ctx);
    await putImage(dest, image);
    await dest.putSignatures([cosign('hidden')]);
    const dir = join(env.dir, 'registries-off.d');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'off.yaml'),
      `docker:\n  ${registry.host}/sig/off:\n    use-sigstore-attachments: false\n`,
    );
    const src = await ref('sig/off:v1').newImageSource({ ...env.ctx, registriesDirPath: dir });
    assert.deepEqual(await src.getSignatures(), []);
  });
});

describe('lookaside signatures', () => {
  it('writes signature-1..N under <base>/<repo>@sha256=<hex>/ and reads them back until the first gap', async () => {
    const image = syntheticImage();
    const dir = join(env.dir, 'registries-lookaside.d');
    const base = join(env.dir, 'sigstore-lookaside');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'l.yaml'), `default-docker:\n  lookaside: file://${base}\n`);
    const ctx = { ...env.ctx, registriesDirPath: dir };
    const dest = await ref('look/aside:v1').newImageDestination(ctx);
    await putImage(dest, image);
    const blobs = [Buffer.from('\xa3first', 'latin1'), Buffer.from('\xa3second', 'latin1')];
    await dest.putSignatures(blobs.map((blob) => ({ format: 'simple-signing', blob })));
    const path = join(base, `look/aside@sha256=${digestHex(image.manifestDigest)}`);
    assert.deepEqual(await readFile(join(path, 'signature-2')), blobs[1]);
    const src = await ref('look/aside:v1').newImageSource(ctx);
    const sigs = await src.getSignatures();
    assert.deepEqual(
      sigs.map((s) => (s.format === 'simple-signing' ? Buffer.from(s.blob) : undefined)),
      blobs,
    );
    // rewriting with fewer signatures leaves no stale tail behind
    await dest.putSignatures([{ format: 'simple-signing', blob: blobs[0]! }]);
    assert.equal((await src.getSignatures()).length, 1);
  });
});

describe('deleting an image', () => {
  it('removes its lookaside signatures too', async () => {
    const image = syntheticImage();
    const dir = join(env.dir, 'registries-delete.d');
    const base = join(env.dir, 'sigstore-delete');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'l.yaml'), `default-docker:\n  lookaside: file://${base}\n`);
    const ctx = { ...env.ctx, registriesDirPath: dir };
    const dest = await ref('del/signed:v1').newImageDestination(ctx);
    await putImage(dest, image);
    await dest.putSignatures([{ format: 'simple-signing', blob: Buffer.from('\xa3sig', 'latin1') }]);
    const path = join(base, `del/signed@sha256=${digestHex(image.manifestDigest)}/signature-1`);
    await readFile(path);
    await ref('del/signed:v1').deleteImage(ctx);
    await assert.rejects(readFile(path), { code: 'ENOENT' });
  });
});

describe('X-Registry-Supports-Signatures', () => {
  it('writes new simple signatures through the extension, skipping ones the registry has', async () => {
    const fake = await startFaultRegistry('127.0.0.1', { 'x-registry-supports-signatures': '1' });
    try {
      const manifest = Buffer.from(
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}',
      );
      const d = digestOf(manifest);
      const have = Buffer.from('\xa3already there', 'latin1');
      const added = Buffer.from('\xa3new one', 'latin1');
      const puts: { schemaVersion: number; name: string; type: string; content: string }[] = [];
      fake.handle(async (req, res) => {
        const path = `/extensions/v2/ext/dest/signatures/${d}`;
        if (req.url === path && req.method === 'GET') {
          const existing = [
            { schemaVersion: 2, name: `${d}@old`, type: 'atomic', content: have.toString('base64') },
          ];
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ signatures: existing }));
          return true;
        }
        let body = '';
        for await (const c of req) body += c;
        if (req.url === path && req.method === 'PUT') {
          puts.push(JSON.parse(body) as (typeof puts)[number]);
          res.writeHead(201).end();
          return true;
        }
        // The manifest goes in by digest, and the tag only at commit.
        if (
          (req.url === '/v2/ext/dest/manifests/v1' || req.url === `/v2/ext/dest/manifests/${d}`) &&
          req.method === 'PUT'
        ) {
          res.writeHead(201, { 'docker-content-digest': d }).end();
          return true;
        }
        return false;
      });
      const dest = await env.transport
        .parseReference(`//${fake.host}/ext/dest:v1`)
        .newImageDestination(env.ctx);
      await dest.putManifest(manifest, 'application/vnd.oci.image.manifest.v1+json');
      await dest.putSignatures([
        { format: 'simple-signing', blob: have },
        { format: 'simple-signing', blob: added },
      ]);
      assert.equal(puts.length, 1);
      assert.equal(puts[0]?.schemaVersion, 2);
      assert.equal(puts[0]?.type, 'atomic');
      assert.match(puts[0]?.name ?? '', new RegExp(`^${d}@[0-9a-f]{32}$`));
      assert.deepEqual(Buffer.from(puts[0]?.content ?? '', 'base64'), added);
    } finally {
      await fake.stop();
    }
  });

  it('reads simple signatures from the extension API when the registry advertises it', async () => {
    const fake = await startFaultRegistry('127.0.0.1', { 'x-registry-supports-signatures': '1' });
    try {
      const manifest = Buffer.from(
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}',
      );
      const d = digestOf(manifest);
      const sig = Buffer.from('\xa3extension-signature', 'latin1');
      fake.handle((req, res) => {
        if (req.url === `/extensions/v2/ext/repo/signatures/${d}`) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              signatures: [
                { schemaVersion: 2, name: `${d}@abc`, type: 'atomic', content: sig.toString('base64') },
              ],
            }),
          );
          return true;
        }
        if (req.url?.startsWith('/v2/ext/repo/manifests/')) {
          res.writeHead(req.url.endsWith('.sig') ? 404 : 200, {
            'content-type': 'application/vnd.oci.image.manifest.v1+json',
          });
          res.end(req.url.endsWith('.sig') ? '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}' : manifest);
          return true;
        }
        return false;
      });
      const src = await env.transport.parseReference(`//${fake.host}/ext/repo:v1`).newImageSource(env.ctx);
      const sigs = await src.getSignatures();
      assert.deepEqual(sigs, [{ format: 'simple-signing', blob: sig }]);
    } finally {
      await fake.stop();
    }
  });
});

describe('http lookaside', () => {
  it('reads signature-1..N over HTTP until the first 404', async () => {
    const digest = digestOf('http lookaside image');
    const served = new Map([
      [`/sigs/ns/repo@sha256=${digestHex(digest)}/signature-1`, 'first'],
      [`/sigs/ns/repo@sha256=${digestHex(digest)}/signature-2`, 'second'],
    ]);
    const server = createServer((req, res) => {
      const body = served.get(req.url ?? '');
      res.writeHead(body === undefined ? 404 : 200).end(body);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const ref = env.transport.parseReference('//example.com/ns/repo:v1').ref;
      const sigs = await readLookaside(`http://127.0.0.1:${port}/sigs`, ref, digest, {
        agents: sharedRegistrySession().agents,
        tls: { verify: true },
      });
      assert.deepEqual(
        sigs.map((b) => Buffer.from(b).toString()),
        ['first', 'second'],
      );
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('lookaside bounds', () => {
  const digest = digestOf('bounded image');
  const image = () => env.transport.parseReference('//example.com/bounded/repo:v1').ref;

  it('reads at most 128 signatures', async () => {
    const base = join(env.dir, 'many-sigs');
    const dir = join(base, `bounded/repo@sha256=${digestHex(digest)}`);
    await mkdir(dir, { recursive: true });
    for (let i = 1; i <= 130; i++) await writeFile(join(dir, `signature-${i}`), `sig ${i}`);
    const sigs = await readLookaside(`file://${base}`, image(), digest, {
      agents: sharedRegistrySession().agents,
      tls: { verify: true },
    });
    assert.equal(sigs.length, 128);
  });

  it('refuses a signature larger than 4 MiB with TOO_LARGE', async () => {
    const base = join(env.dir, 'big-sig');
    const dir = join(base, `bounded/repo@sha256=${digestHex(digest)}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'signature-1'), Buffer.alloc((4 << 20) + 1));
    await assert.rejects(
      readLookaside(`file://${base}`, image(), digest, {
        agents: sharedRegistrySession().agents,
        tls: { verify: true },
      }),
      {
        code: 'TOO_LARGE',
      },
    );
  });
});
