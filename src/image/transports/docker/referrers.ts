// Writing OCI 1.1 referrers: the artifact manifest under its digest, then, on registries without the
// referrers API (Distribution 2.8), the `sha256-<hex>` tag-schema index that lists it.
import type { Digest } from '../../digest.ts';
import type { ReferrerDescriptor } from '../../types.ts';
import { MAX_MANIFEST_SIZE, type RegistryClient, repositoryScope } from './client.ts';
import { DockerError, isManifestAbsent } from './errors.ts';
import { drain } from './http.ts';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** A fallback index never grows past this many referrers (its manifest size cap comes first anyway). */
export const MAX_FALLBACK_REFERRERS = 1000;

export function referrersTag(subject: Digest): string {
  return subject.replace(':', '-');
}

/** True when the registry serves the referrers API (it then indexes pushed subjects itself). */
async function hasReferrersApi(client: RegistryClient, repo: string, subject: Digest): Promise<boolean> {
  const res = await client.request({
    method: 'GET',
    path: `/v2/${repo}/referrers/${subject}`,
    headers: { accept: OCI_INDEX },
    scopes: [repositoryScope(repo, 'pull')],
    accept: [404, 405, 400],
  });
  await drain(res.body);
  const type = String(res.headers['content-type'] ?? '')
    .split(';', 1)[0]!
    .trim();
  return res.status === 200 && type === OCI_INDEX;
}

async function fallbackEntries(client: RegistryClient, repo: string, subject: Digest): Promise<unknown[]> {
  try {
    const m = await client.getManifest(repo, referrersTag(subject), [OCI_INDEX]);
    const doc = JSON.parse(Buffer.from(m.manifest).toString('utf8')) as { manifests?: unknown };
    return Array.isArray(doc.manifests) ? doc.manifests : [];
  } catch (err) {
    if (isManifestAbsent(err)) return [];
    if (err instanceof SyntaxError)
      throw new DockerError('BAD_RESPONSE', `referrers index of ${subject}: not JSON`, { cause: err });
    throw err;
  }
}

/** Stores `manifest` (described by `descriptor`) as a referrer of `subject` in `repo`. */
export async function putReferrer(
  client: RegistryClient,
  repo: string,
  manifest: Uint8Array,
  descriptor: ReferrerDescriptor,
  subject: Digest,
): Promise<void> {
  await client.putManifest(repo, descriptor.digest, manifest, descriptor.mediaType);
  if (await hasReferrersApi(client, repo, subject)) return;
  const entries = await fallbackEntries(client, repo, subject);
  if (entries.some((e) => (e as { digest?: unknown }).digest === descriptor.digest)) return;
  if (entries.length >= MAX_FALLBACK_REFERRERS) {
    throw new DockerError(
      'TOO_LARGE',
      `referrers index of ${subject}: more than ${MAX_FALLBACK_REFERRERS} referrers`,
    );
  }
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        ...entries,
        {
          mediaType: descriptor.mediaType,
          digest: descriptor.digest,
          size: descriptor.size,
          ...(descriptor.artifactType !== undefined ? { artifactType: descriptor.artifactType } : {}),
          ...(descriptor.annotations !== undefined ? { annotations: descriptor.annotations } : {}),
        },
      ],
    }),
  );
  if (index.byteLength > MAX_MANIFEST_SIZE)
    throw new DockerError(
      'TOO_LARGE',
      `referrers index of ${subject}: larger than ${MAX_MANIFEST_SIZE} bytes`,
    );
  await client.putManifest(repo, referrersTag(subject), index, OCI_INDEX);
}
