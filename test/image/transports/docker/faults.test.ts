// Faults the real registry cannot produce, each ending in a typed error within a bounded time.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { after, before, beforeEach, describe, it } from 'node:test';
import { digestOf, verifyingStream } from '../../../../src/image/index.ts';
import {
  closeAllAgents,
  DockerError,
  RegistryClient,
  RegistrySession,
} from '../../../../src/image/transports/docker/index.ts';
import { type FaultRegistry, startFaultRegistry } from '../../../helpers/fault-registry.ts';

let fake: FaultRegistry;
let other: FaultRegistry;
const sleeps: number[] = [];
// A session per test: a Retry-After pauses the registry for the whole session, and the sleeps
// here are not real.
let session: RegistrySession;

before(async () => {
  fake = await startFaultRegistry();
  other = await startFaultRegistry('localhost');
});
after(async () => {
  await fake.stop();
  await other.stop();
  await session.close();
  await closeAllAgents();
});
beforeEach(async () => {
  await session?.close();
  session = new RegistrySession();
  fake.requests.length = 0;
  other.requests.length = 0;
  sleeps.length = 0;
});

function client(overrides: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}): RegistryClient {
  return new RegistryClient({
    registry: fake.host,
    insecure: true,
    tls: { verify: true },
    session,
    retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 5_000, totalMs: 30_000 },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...overrides,
  });
}

const manifest = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }),
);
const manifestDigest = digestOf(manifest);
const OCI = 'application/vnd.oci.image.manifest.v1+json';

describe('retries', () => {
  it('honours 429 Retry-After and then succeeds', async () => {
    fake.handle((_req, res, n) => {
      if (n === 1)
        res
          .writeHead(429, { 'retry-after': '2', 'content-type': 'application/json' })
          .end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      else res.writeHead(200, { 'content-type': OCI }).end(manifest);
      return true;
    });
    const m = await client().getManifest('r/x', 'v1');
    assert.equal(m.digest, manifestDigest);
    // One wait, until the 2 s named from the 429 on.
    assert.equal(sleeps.length, 1);
    assert.ok(sleeps[0]! > 1900 && sleeps[0]! <= 2000, `waited ${sleeps[0]} ms`);
  });

  it('gives up on persistent 429 with TOOMANYREQUESTS', async () => {
    fake.handle((_req, res) => {
      res
        .writeHead(429, { 'content-type': 'application/json' })
        .end('{"errors":[{"code":"TOOMANYREQUESTS","message":"no"}]}');
      return true;
    });
    await assert.rejects(client().getManifest('r/x', 'v1'), { code: 'TOOMANYREQUESTS' });
    assert.equal(fake.requests.length, 4);
  });

  it('retries 5xx with growing backoff and then succeeds', async () => {
    fake.handle((_req, res, n) => {
      if (n <= 2) res.writeHead(503).end('unavailable');
      else res.writeHead(200, { 'content-type': OCI }).end(manifest);
      return true;
    });
    await client({ retry: { attempts: 5, baseDelayMs: 100, maxDelayMs: 5000, totalMs: 30_000 } }).getManifest(
      'r/x',
      'v1',
    );
    assert.equal(sleeps.length, 2);
    assert.ok(sleeps[0]! >= 50 && sleeps[0]! <= 100, `first delay ${sleeps[0]}`);
    assert.ok(sleeps[1]! >= 100 && sleeps[1]! <= 200, `second delay ${sleeps[1]}`);
  });

  it('does not retry a 4xx that will not change', async () => {
    fake.handle((_req, res) => {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end('{"errors":[{"code":"NAME_INVALID","message":"bad"}]}');
      return true;
    });
    await assert.rejects(client().getManifest('r/x', 'v1'), { code: 'NAME_INVALID' });
    assert.equal(fake.requests.length, 1);
    assert.deepEqual(sleeps, []);
  });

  it('bounds the total retry time', async () => {
    fake.handle((_req, res) => {
      res.writeHead(503).end();
      return true;
    });
    await assert.rejects(
      client({ retry: { attempts: 100, baseDelayMs: 1000, maxDelayMs: 1000, totalMs: 2500 } }).getManifest(
        'r/x',
        'v1',
      ),
      { code: 'SERVER_ERROR' },
    );
    // Each wait is 500-1000 ms (half the backoff plus jitter): at most 4 fit in 2.5 s, not 99.
    const slept = sleeps.reduce((a, b) => a + b, 0);
    assert.ok(slept <= 2500, `slept ${slept} ms`);
    assert.equal(fake.requests.length, sleeps.length + 1);
    assert.ok(fake.requests.length <= 5, `${fake.requests.length} attempts`);
  });
});

describe('bad answers', () => {
  it('refuses a manifest that does not match the digest asked for', async () => {
    fake.handle((_req, res) => {
      res
        .writeHead(200, { 'content-type': OCI, 'docker-content-digest': manifestDigest })
        .end(Buffer.concat([manifest, Buffer.from(' ')]));
      return true;
    });
    await assert.rejects(client().getManifest('r/x', manifestDigest), { code: 'DIGEST_MISMATCH' });
  });

  it('guesses the type of a manifest served as application/json', async () => {
    fake.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(manifest);
      return true;
    });
    assert.equal((await client().getManifest('r/x', 'v1')).mimeType, OCI);
  });

  it('refuses a HEAD digest that differs from the digest asked for', async () => {
    fake.handle((_req, res) => {
      res.writeHead(200, { 'content-type': OCI, 'docker-content-digest': digestOf('other') }).end();
      return true;
    });
    await assert.rejects(client().resolveDigest('r/x', manifestDigest), { code: 'DIGEST_MISMATCH' });
  });

  it('falls back to GET and hashing when HEAD has no Docker-Content-Digest', async () => {
    fake.handle((req, res) => {
      res.writeHead(200, { 'content-type': OCI }).end(req.method === 'HEAD' ? undefined : manifest);
      return true;
    });
    assert.equal(await client().resolveDigest('r/x', 'v1'), manifestDigest);
    assert.deepEqual(
      fake.requests.map((r) => r.method),
      ['HEAD', 'GET'],
    );
  });

  for (const withLength of [true, false]) {
    it(`refuses a manifest over 4 MiB (${withLength ? 'announced' : 'chunked'})`, async () => {
      const big = Buffer.alloc((4 << 20) + 1, 0x20);
      fake.handle((_req, res) => {
        res.writeHead(200, {
          'content-type': OCI,
          ...(withLength ? { 'content-length': String(big.length) } : {}),
        });
        res.end(big);
        return true;
      });
      await assert.rejects(client().getManifest('r/x', 'v1'), { code: 'TOO_LARGE' });
    });
  }

  const htmlCases = [
    { status: 200, code: 'BAD_RESPONSE' },
    { status: 404, code: 'MANIFEST_UNKNOWN' },
    { status: 502, code: 'SERVER_ERROR' },
    { status: 403, code: 'DENIED' },
  ];
  for (const h of htmlCases) {
    it(`an HTML page with status ${h.status} is ${h.code}`, async () => {
      fake.handle((_req, res) => {
        res.writeHead(h.status, { 'content-type': 'text/html' }).end('<html><body>proxy error</body></html>');
        return true;
      });
      await assert.rejects(client().getManifest('r/x', 'v1'), { code: h.code });
    });
  }

  it('reads at most 64 KiB of a huge error body', async () => {
    let sent = 0;
    fake.handle((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 << 10, 0x41);
      const pump = () => {
        while (sent < 64 << 20) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return true;
    });
    await assert.rejects(
      client({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, totalMs: 1 } }).getManifest('r/x', 'v1'),
      {
        code: 'SERVER_ERROR',
      },
    );
    assert.ok(sent < 16 << 20, `server pushed ${sent} bytes`);
  });
});

describe('blob bodies', () => {
  const blob = randomBytes(256 << 10);
  const blobDigest = digestOf(blob);

  it('resumes a body cut short with Range and verifies the whole blob', async () => {
    fake.handle((req, res, n) => {
      const range = req.headers.range;
      if (n === 1) {
        res.writeHead(200, { 'content-length': String(blob.length) });
        res.write(blob.subarray(0, 100_000), () => res.destroy());
        return true;
      }
      const start = Number(/bytes=(\d+)-/.exec(range ?? '')?.[1]);
      res.writeHead(206, {
        'content-length': String(blob.length - start),
        'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}`,
      });
      res.end(blob.subarray(start));
      return true;
    });
    const { stream } = await client().getBlob('r/x', blobDigest);
    const verified = stream.pipe(verifyingStream(blobDigest, { expectedSize: blob.length }));
    const chunks: Buffer[] = [];
    for await (const c of verified) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), blob);
    assert.match(fake.requests[1]?.headers.range ?? '', /^bytes=\d+-$/);
  });

  for (const corruptTail of [false, true]) {
    it(`hashes a resumed body across the Range boundary (${corruptTail ? 'corrupt tail: DIGEST_MISMATCH' : 'intact'})`, async () => {
      const served = Buffer.from(blob);
      if (corruptTail) served[served.length - 1] = (served.at(-1) ?? 0) ^ 1;
      fake.handle((req, res, n) => {
        if (n === 1) {
          res.writeHead(200, { 'content-length': String(served.length) });
          res.write(served.subarray(0, 100_000), () => res.destroy());
          return true;
        }
        const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1]);
        res.writeHead(206, {
          'content-length': String(served.length - start),
          'content-range': `bytes ${start}-${served.length - 1}/${served.length}`,
        });
        res.end(served.subarray(start));
        return true;
      });
      const { stream } = await client().getBlob('r/x', blobDigest, {
        verify: { expectedSize: blob.length, what: 'blob' },
      });
      if (corruptTail) await assert.rejects(text(stream), { code: 'DIGEST_MISMATCH' });
      else {
        const chunks: Buffer[] = [];
        for await (const c of stream) chunks.push(c as Buffer);
        assert.deepEqual(Buffer.concat(chunks), blob);
      }
      assert.equal(fake.requests.length, 2);
    });
  }

  it('never hands out the whole of a blob that fails verification', async () => {
    const served = Buffer.from(blob);
    served[served.length - 1] = (served.at(-1) ?? 0) ^ 1;
    fake.handle((_req, res) => {
      res.writeHead(200, { 'content-length': String(served.length) }).end(served);
      return true;
    });
    const { stream } = await client().getBlob('r/x', blobDigest, {
      verify: { expectedSize: blob.length, what: 'blob' },
    });
    let handedOut = 0;
    await assert.rejects(
      (async () => {
        for await (const c of stream) handedOut += (c as Buffer).length;
      })(),
      { code: 'DIGEST_MISMATCH' },
    );
    assert.ok(handedOut < blob.length, `${handedOut} of ${blob.length} bytes handed out`);
  });

  it('fails with SHORT_BODY when the body is cut and Range is not honoured', async () => {
    fake.handle((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.write(blob.subarray(0, 1000), () => res.destroy());
      return true;
    });
    const { stream } = await client().getBlob('r/x', blobDigest);
    await assert.rejects(text(stream), { code: 'SHORT_BODY' });
  });

  it('follows a redirect to another host without the Authorization header', async () => {
    other.handle((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
      return true;
    });
    fake.handle((_req, res) => {
      res.writeHead(307, { location: `${other.url}/storage/blob` }).end();
      return true;
    });
    const { stream } = await client({ registryToken: 'secret-token' }).getBlob('r/x', blobDigest);
    await text(stream);
    assert.equal(fake.requests[0]?.headers.authorization, 'Bearer secret-token');
    assert.equal(other.requests[0]?.headers.authorization, undefined);
  });

  it('stops a redirect loop with REDIRECT_LOOP', async () => {
    fake.handle((req, res) => {
      res.writeHead(302, { location: req.url }).end();
      return true;
    });
    await assert.rejects(client().getBlob('r/x', blobDigest), { code: 'REDIRECT_LOOP' });
    assert.equal(fake.requests.length, 11);
  });
});

describe('timeouts', () => {
  it('a server that never answers fails with TIMEOUT within the bound', async () => {
    fake.handle(() => true);
    const started = Date.now();
    await assert.rejects(
      client({
        timeouts: { connectMs: 1000, headersMs: 300, bodyMs: 300 },
        retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1, totalMs: 5000 },
      }).getManifest('r/x', 'v1'),
      (e: unknown) => e instanceof DockerError && e.code === 'TIMEOUT',
    );
    // undici's timers tick coarsely (about a second), hence the loose bound.
    assert.ok(Date.now() - started < 6000, `took ${Date.now() - started} ms`);
  });

  it('a body that stalls fails with TIMEOUT', async () => {
    fake.handle((_req, res) => {
      res.writeHead(200, { 'content-type': OCI, 'content-length': '1000' });
      res.write('{');
      return true;
    });
    await assert.rejects(
      client({
        timeouts: { connectMs: 1000, headersMs: 300, bodyMs: 300 },
        retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, totalMs: 1 },
      }).getManifest('r/x', 'v1'),
      { code: 'TIMEOUT' },
    );
  });
});

describe('OCI 1.1 referrers API', () => {
  // Distribution 2.8 has no referrers API (the tag fallback is tested against it); a fake serves one.
  it('uses the API when the registry has it, passing artifactType through', async () => {
    const bundle = 'application/vnd.dev.sigstore.bundle.v0.3+json';
    fake.handle((req, res) => {
      if (!req.url?.startsWith(`/v2/r/x/referrers/${manifestDigest}`)) return false;
      const all = [
        { mediaType: OCI, digest: digestOf('a'), size: 1, artifactType: bundle },
        { mediaType: OCI, digest: digestOf('b'), size: 1, artifactType: 'application/spdx+json' },
      ];
      const wanted = new URL(req.url, 'http://x').searchParams.get('artifactType');
      const manifests = wanted === null ? all : all.filter((d) => d.artifactType === wanted);
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' });
      res.end(
        JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
      );
      return true;
    });
    const refs = await client().listReferrers('r/x', manifestDigest, bundle);
    assert.deepEqual(
      refs.map((r) => r.artifactType),
      [bundle],
    );
    assert.equal(fake.requests.length, 1, 'no tag fallback when the API answers');
    assert.equal((await client().listReferrers('r/x', manifestDigest)).length, 2);
  });

  it('bounds the number of referrers returned', async () => {
    fake.handle((_req, res) => {
      const manifests = Array.from({ length: 50 }, (_, i) => ({
        mediaType: OCI,
        digest: digestOf(String(i)),
        size: 1,
      }));
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' });
      res.end(JSON.stringify({ schemaVersion: 2, manifests }));
      return true;
    });
    assert.equal((await client().listReferrers('r/x', manifestDigest, undefined, 10)).length, 10);
  });
});

describe('uploads', () => {
  it('sends a large blob as several PATCH chunks, then one PUT with the digest', async () => {
    const blob = randomBytes(10_000);
    let received = 0;
    let uploads = 0;
    fake.handle(async (req, res) => {
      if (req.method === 'POST') {
        res.writeHead(202, { location: '/v2/r/x/blobs/uploads/u0' }).end();
        return true;
      }
      for await (const c of req) received += (c as Buffer).length;
      if (req.method === 'PATCH') {
        uploads++;
        res.writeHead(202, { location: `/v2/r/x/blobs/uploads/u${uploads}` }).end();
        return true;
      }
      res.writeHead(201).end();
      return true;
    });
    const stored = await client({ uploadChunkSize: 4096 }).putBlob(
      'r/x',
      Readable.from([blob]),
      undefined,
      -1,
    );
    assert.equal(stored.digest, digestOf(blob));
    assert.equal(received, blob.length);
    assert.deepEqual(
      fake.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`),
      [
        'POST /v2/r/x/blobs/uploads/',
        'PATCH /v2/r/x/blobs/uploads/u0',
        'PATCH /v2/r/x/blobs/uploads/u1',
        'PATCH /v2/r/x/blobs/uploads/u2',
        'PUT /v2/r/x/blobs/uploads/u3',
      ],
    );
  });

  it('refuses a registry that says it stored the blob under another digest, and cancels the upload', async () => {
    const blob = Buffer.from('upload me');
    fake.handle(async (req, res) => {
      if (req.method === 'POST') {
        res.writeHead(202, { location: '/v2/r/x/blobs/uploads/u1' }).end();
        return true;
      }
      if (req.method === 'PUT') {
        for await (const _ of req) {
          // consume the body
        }
        res.writeHead(201, { 'docker-content-digest': digestOf('something else') }).end();
        return true;
      }
      if (req.method === 'DELETE') {
        res.writeHead(204).end();
        return true;
      }
      return false;
    });
    await assert.rejects(client().putBlob('r/x', Readable.from([blob]), digestOf(blob), blob.length), {
      code: 'DIGEST_MISMATCH',
    });
    assert.deepEqual(
      fake.requests.map((r) => r.method),
      ['POST', 'PUT', 'DELETE'],
    );
  });
});
