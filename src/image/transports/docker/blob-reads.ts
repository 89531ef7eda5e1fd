// Blob reads of the docker transport: a GET whose body, when it breaks off, is resumed with
// `Range` from the byte reached, optionally hashed as it flows (go-containerregistry remote's
// blob reads; containers/image docker_image_src.go's GetBlob).
import { Readable } from 'node:stream';
import { type Digest, Digester, digestAlgorithm, verificationFailure } from '../../digest.ts';
import type { CallOptions } from '../../types.ts';
import { repositoryScope } from './auth.ts';
import type { RegistryClient } from './client.ts';
import { abortError, bodyError, DockerError } from './errors.ts';
import { discard, type HttpResponse } from './http.ts';

const MAX_BLOB_RESUMES = 5;

/**
 * Streams a blob. The stream resumes with `Range` when a body breaks off. With `verify` it is
 * hashed as it flows and ends in DIGEST_MISMATCH instead of `end` when the bytes (or their count,
 * when `expectedSize` is given) do not match: one stage fewer than piping it through
 * verifyingStream. Without it the caller verifies. The call's signal bounds the whole read: its
 * abort destroys the stream with the abort error.
 */
export async function getBlob(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  options: { readonly verify?: { readonly expectedSize?: number; readonly what: string } } & CallOptions = {},
): Promise<{ stream: Readable; size: number }> {
  const path = `/v2/${repo}/blobs/${digest}`;
  const what = `reading blob ${digest} from ${client.registry}/${repo}`;
  const bounds = client.bounds(options);
  const first = await client.request(
    {
      method: 'GET',
      path,
      scopes: [repositoryScope(repo, 'pull')],
      notFound: 'BLOB_UNKNOWN',
    },
    bounds,
  );
  if (bounds.signal?.aborted === true) {
    discard(first.body);
    throw abortError(what, bounds.signal.reason);
  }
  const lengthHeader = Number(first.headers['content-length']);
  const size = Number.isSafeInteger(lengthHeader) ? lengthHeader : -1;
  const acceptsRanges = size >= 0;
  const resume = async (offset: number): Promise<HttpResponse> => {
    const r = await client.request(
      {
        method: 'GET',
        path,
        headers: { range: `bytes=${offset}-` },
        scopes: [repositoryScope(repo, 'pull')],
        notFound: 'BLOB_UNKNOWN',
      },
      bounds,
    );
    if (r.status !== 206) {
      discard(r.body);
      throw new DockerError(
        'SHORT_BODY',
        `${what}: body broke off at ${offset} bytes and the registry does not support Range`,
      );
    }
    return r;
  };
  // Body chunks are pushed straight on (no async iteration per chunk); a body that breaks off is
  // resumed from the byte reached.
  let body = first.body;
  let received = 0;
  const verify = options.verify;
  const digester = verify === undefined ? undefined : new Digester(digestAlgorithm(digest));
  let held: Buffer | undefined;
  /** Undefined when the bytes so far (all of them when `complete`) are what was asked for. */
  const mismatch = (complete: boolean) =>
    digester === undefined || verify === undefined
      ? undefined
      : verificationFailure(digester, digest, verify, complete);
  let resumes = 0;
  // Bumped when a body is given up, so its late events are ignored.
  let attempt = 0;
  const stream = new Readable({
    read() {
      body.resume();
    },
    destroy(err, callback) {
      bounds.signal?.removeEventListener('abort', aborted);
      discard(body);
      callback(err);
    },
  });
  // Whatever the body is doing (flowing, paused, being resumed), the abort is what the reader hears.
  const aborted = () => {
    attempt++;
    stream.destroy(abortError(what, bounds.signal?.reason));
  };
  bounds.signal?.addEventListener('abort', aborted, { once: true });
  const brokeOff = (err: unknown): void => {
    attempt++;
    discard(body);
    if (stream.destroyed) return;
    const e = bodyError(err, what);
    if (!acceptsRanges || resumes >= MAX_BLOB_RESUMES || received >= size) {
      stream.destroy(e);
      return;
    }
    resumes++;
    resume(received).then(
      (r) => {
        if (stream.destroyed) discard(r.body);
        else attach(r.body);
      },
      (e2: unknown) => stream.destroy(e2 as Error),
    );
  };
  const attach = (b: Readable): void => {
    body = b;
    const mine = attempt;
    b.on('data', (chunk: Buffer) => {
      if (mine !== attempt || stream.destroyed) return;
      received += chunk.byteLength;
      let out = chunk;
      if (digester !== undefined) {
        digester.update(chunk);
        const wrong = mismatch(false);
        if (wrong !== undefined) {
          attempt++;
          stream.destroy(wrong);
          return;
        }
        // The newest chunk is held back, so a consumer never has the whole blob before it is verified.
        const previous = held;
        held = chunk;
        if (previous === undefined) return;
        out = previous;
      }
      if (!stream.push(out)) b.pause();
    });
    b.on('end', () => {
      if (mine !== attempt || stream.destroyed) return;
      if (size >= 0 && received < size) {
        brokeOff(new DockerError('SHORT_BODY', `${what}: got ${received} of ${size} bytes`));
        return;
      }
      const wrong = mismatch(true);
      if (wrong !== undefined) {
        stream.destroy(wrong);
        return;
      }
      if (held !== undefined) stream.push(held);
      held = undefined;
      stream.push(null);
    });
    b.on('error', (err) => {
      if (mine === attempt) brokeOff(err);
    });
  };
  attach(first.body);
  return { stream, size };
}
