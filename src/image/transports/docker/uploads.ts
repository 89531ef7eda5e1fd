// Blob uploads of the docker transport: one monolithic PUT, or a session of streamed PATCH
// chunks, verified against the expected digest, and cross-repository mounts
// (distribution-spec "Pushing blobs"; go-containerregistry remote's write.go).
import { pipeline, Readable, Transform } from 'node:stream';
import { type Digest, Digester, digestAlgorithm, isDigest } from '../../digest.ts';
import type { CallOptions } from '../../types.ts';
import { repositoryScope } from './auth.ts';
import type { RegistryClient } from './client.ts';
import { DockerError } from './errors.ts';
import { drain, type HttpResponse } from './http.ts';

/** Above this (or when the size is unknown) uploads stream through PATCH instead of one PUT. */
const MONOLITHIC_UPLOAD_MAX = 32 << 20;
/** Size of each PATCH of a chunked upload, unless the client says otherwise. */
export const UPLOAD_CHUNK_SIZE = 64 << 20;

/**
 * Uploads a blob and returns its digest and size; the digest is verified against `expected`.
 * With `streamVerified` the stream itself fails unless its bytes match `expected` (the copy
 * engine's verifier), so it is not hashed a second time; sizes are still counted.
 */
export async function putBlob(
  client: RegistryClient,
  repo: string,
  stream: Readable,
  expected: Digest | undefined,
  size: number,
  options: { readonly streamVerified?: boolean } & CallOptions = {},
): Promise<{ digest: Digest; size: number }> {
  const what = `writing blob to ${client.registry}/${repo}`;
  const bounds = client.bounds(options);
  const scopes = [repositoryScope(repo, 'pull,push')];
  // When the source fails (a digest mismatch, a broken pull), that is the error to report, not
  // the aborted request it caused; listening from the start also covers a failure during POST.
  let sourceError: unknown;
  stream.once('error', (err) => {
    sourceError = err;
  });
  const start = await client.request(
    { method: 'POST', path: `/v2/${repo}/blobs/uploads/`, scopes, accept: [202] },
    bounds,
  );
  await drain(start.body);
  let location = uploadLocation(client, start, what);
  const trusted = options.streamVerified === true && expected !== undefined;
  const digester = trusted
    ? undefined
    : new Digester(expected === undefined ? 'sha256' : digestAlgorithm(expected));
  let sent = 0;
  // A verified stream of known size goes to the socket as it is: undici enforces Content-Length
  // (fewer or more bytes fail the request) and the stream itself fails on a wrong digest.
  const chunkSize = client.uploadChunkSize;
  const direct = trusted && size >= 0 && (size <= MONOLITHIC_UPLOAD_MAX || size <= chunkSize);
  let metered: Readable = stream;
  if (!direct) {
    metered = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        digester?.update(chunk);
        sent += chunk.byteLength;
        callback(null, chunk);
      },
    });
    pipeline(stream, metered as Transform, () => {
      // errors surface on `metered`, which the request body reads
    });
  }
  /**
   * A verified stream of known size was all sent once its request succeeded (undici enforces the
   * Content-Length). undici may close the stream before it reports its own end, so that is not
   * awaited; a verifier that failed has already said so.
   */
  const bodyDone = (): void => {
    if (!direct) return;
    if (sourceError !== undefined) throw sourceError;
    sent = size;
  };
  try {
    if (expected !== undefined && size >= 0 && size <= MONOLITHIC_UPLOAD_MAX) {
      const url = withQuery(location, { digest: expected });
      const res = await client.request(
        {
          method: 'PUT',
          path: url,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
          body: metered,
          scopes,
        },
        bounds,
      );
      await drain(res.body);
      bodyDone();
      checkStoredDigest(res, expected, what);
    } else {
      // Large or unsized blobs go up as a series of streamed PATCH chunks, never buffered whole.
      const whole = size >= 0 && size <= chunkSize;
      // Created only when re-chunking: an iterator starts reading the stream at once.
      let source: AsyncIterator<Buffer> | undefined;
      const nextChunk = () => {
        source ??= metered[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        return source.next();
      };
      let pending: Buffer | undefined;
      async function* chunk(): AsyncGenerator<Buffer> {
        for (let sent = 0; sent < chunkSize; ) {
          let buf = pending;
          pending = undefined;
          if (buf === undefined) {
            const next = await nextChunk();
            if (next.done === true) return;
            buf = next.value;
          }
          if (sent + buf.length > chunkSize) {
            pending = buf.subarray(chunkSize - sent);
            buf = buf.subarray(0, chunkSize - sent);
          }
          sent += buf.length;
          yield buf;
        }
      }
      if (whole) {
        // One PATCH takes the stream as it is, without re-chunking it (as skopeo does), with a
        // Content-Length when the size is known so it is not sent chunked.
        const patch = await client.request(
          {
            method: 'PATCH',
            path: location,
            headers: {
              'content-type': 'application/octet-stream',
              ...(direct ? { 'content-length': String(size) } : {}),
            },
            body: metered,
            scopes,
          },
          bounds,
        );
        await drain(patch.body);
        bodyDone();
        location = uploadLocation(client, patch, what);
      }
      for (let first = true; !whole; first = false) {
        if (pending === undefined) {
          const next = await nextChunk();
          if (next.done === true && !first) break;
          pending = next.done === true ? undefined : next.value;
        }
        const patch = await client.request(
          {
            method: 'PATCH',
            path: location,
            headers: { 'content-type': 'application/octet-stream' },
            body: Readable.from(chunk()),
            scopes,
          },
          bounds,
        );
        await drain(patch.body);
        location = uploadLocation(client, patch, what);
      }
      const actual = digester === undefined ? (expected as Digest) : digester.digest();
      if (expected !== undefined && actual !== expected) {
        throw new DockerError('DIGEST_MISMATCH', `${what}: expected ${expected}, got ${actual}`);
      }
      if (size >= 0 && sent !== size) {
        throw new DockerError('SIZE_INVALID', `${what}: expected ${size} bytes, got ${sent}`);
      }
      const res = await client.request(
        {
          method: 'PUT',
          path: withQuery(location, { digest: actual }),
          headers: { 'content-length': '0' },
          body: '',
          scopes,
        },
        bounds,
      );
      await drain(res.body);
      checkStoredDigest(res, actual, what);
      return { digest: actual, size: sent };
    }
  } catch (err) {
    await cancelUpload(client, location, scopes);
    throw sourceError ?? err;
  }
  if (size >= 0 && sent !== size) {
    throw new DockerError('SIZE_INVALID', `${what}: expected ${size} bytes, got ${sent}`);
  }
  return { digest: expected, size: sent };
}

async function cancelUpload(
  client: RegistryClient,
  location: string,
  scopes: readonly string[],
): Promise<void> {
  try {
    // Within the client's bounds, not the call's: an aborted upload is still cleaned up.
    const res = await client.request(
      { method: 'DELETE', path: location, scopes, accept: [404] },
      client.bounds(),
    );
    await drain(res.body);
  } catch {
    // the registry expires abandoned uploads on its own
  }
}

function uploadLocation(client: RegistryClient, res: HttpResponse, what: string): string {
  const location = res.headers.location;
  if (location === undefined)
    throw new DockerError('BAD_RESPONSE', `${what}: upload response without Location`);
  return new URL(location, `${client.origin}/`).toString();
}

function withQuery(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/** Cross-repository mount; true when the registry mounted the blob (201). */
export async function mountBlob(
  client: RegistryClient,
  repo: string,
  from: string,
  digest: Digest,
  call: CallOptions = {},
): Promise<boolean> {
  const scopes = [repositoryScope(repo, 'pull,push'), repositoryScope(from, 'pull')];
  const res = await client.request(
    {
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      scopes,
      accept: [202],
    },
    client.bounds(call),
  );
  await drain(res.body);
  if (res.status === 201) return true;
  // 202: the registry started an ordinary upload instead; abandon it.
  if (res.headers.location !== undefined)
    await cancelUpload(client, uploadLocation(client, res, 'mount'), scopes);
  return false;
}

/** A registry that stores a blob under another digest than the one sent is not trusted further. */
function checkStoredDigest(res: HttpResponse, expected: Digest, what: string): void {
  const stored = res.headers['docker-content-digest'];
  if (
    stored !== undefined &&
    isDigest(stored) &&
    stored !== expected &&
    digestAlgorithm(stored) === digestAlgorithm(expected)
  ) {
    throw new DockerError('DIGEST_MISMATCH', `${what}: registry stored ${stored}, expected ${expected}`);
  }
}
