// Simple signatures through the X-Registry-Supports-Signatures API extension (OpenShift's
// integrated registry; containers/image docker_image_src.go and docker_image_dest.go).
import { randomBytes } from 'node:crypto';
import type { Digest } from '../../digest.ts';
import type { CallOptions } from '../../types.ts';
import { repositoryScope } from './auth.ts';
import type { RegistryClient } from './client.ts';
import { DockerError } from './errors.ts';
import { drain, readCapped } from './http.ts';

const MAX_SIGNATURE_LIST = 16 << 20;

/** Simple signatures through the X-Registry-Supports-Signatures extension (read side). */
export async function extensionSignatures(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  maxSignatures: number,
  maxBytes: number,
  call: CallOptions = {},
): Promise<Uint8Array[]> {
  const res = await client.request(
    {
      method: 'GET',
      path: extensionSignaturesPath(repo, digest),
      scopes: [repositoryScope(repo, 'pull')],
      accept: [404],
    },
    client.bounds(call),
  );
  if (res.status === 404) {
    await drain(res.body);
    return [];
  }
  const body = await readCapped(res.body, MAX_SIGNATURE_LIST, `reading signatures of ${digest}`);
  let doc: { signatures?: unknown };
  try {
    doc = JSON.parse(body.toString('utf8')) as { signatures?: unknown };
  } catch {
    throw new DockerError('BAD_RESPONSE', `reading signatures of ${digest}: response is not JSON`);
  }
  const list = Array.isArray(doc.signatures) ? doc.signatures : [];
  const out: Uint8Array[] = [];
  for (const s of list.slice(0, maxSignatures)) {
    const e = s as { schemaVersion?: unknown; type?: unknown; content?: unknown };
    if (e.schemaVersion !== 2)
      throw new DockerError(
        'SIGNATURE_INVALID',
        `reading signatures of ${digest}: unsupported schemaVersion`,
      );
    if (e.type !== 'atomic')
      throw new DockerError('SIGNATURE_INVALID', `reading signatures of ${digest}: unsupported type`);
    if (typeof e.content !== 'string')
      throw new DockerError('SIGNATURE_INVALID', `reading signatures of ${digest}: content is not base64`);
    const bytes = Buffer.from(e.content, 'base64');
    if (bytes.byteLength > maxBytes)
      throw new DockerError(
        'TOO_LARGE',
        `reading signatures of ${digest}: signature larger than ${maxBytes} bytes`,
      );
    out.push(bytes);
  }
  return out;
}

/**
 * Adds simple signatures through the X-Registry-Supports-Signatures extension; signatures the
 * registry already has (same bytes) are skipped. Each new one gets a random unique name.
 */
export async function putExtensionSignatures(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  blobs: readonly Uint8Array[],
  call: CallOptions = {},
): Promise<void> {
  const existing = await extensionSignatures(
    client,
    repo,
    digest,
    Number.MAX_SAFE_INTEGER,
    MAX_SIGNATURE_LIST,
    call,
  );
  const bounds = client.bounds(call);
  for (const blob of blobs) {
    if (existing.some((e) => Buffer.compare(Buffer.from(e), Buffer.from(blob)) === 0)) continue;
    const body = JSON.stringify({
      schemaVersion: 2,
      name: `${digest}@${randomBytes(16).toString('hex')}`,
      type: 'atomic',
      content: Buffer.from(blob).toString('base64'),
    });
    const res = await client.request(
      {
        method: 'PUT',
        path: extensionSignaturesPath(repo, digest),
        headers: { 'content-type': 'application/json' },
        body,
        scopes: [repositoryScope(repo, 'pull,push')],
      },
      bounds,
    );
    await drain(res.body);
    if (res.status !== 201) {
      throw new DockerError(
        'BAD_RESPONSE',
        `writing a signature of ${digest} to ${client.registry}/${repo}: status ${res.status}, expected 201`,
        { status: res.status },
      );
    }
  }
}

/** The extension API's path for the signatures of `digest`. */
function extensionSignaturesPath(repo: string, digest: Digest): string {
  return `/extensions/v2/${repo}/signatures/${digest}`;
}
