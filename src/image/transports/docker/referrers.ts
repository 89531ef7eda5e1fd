// OCI 1.1 referrers: listed through the referrers API, or on registries without it (Distribution
// 2.8) through the `sha256-<hex>` tag-schema index; written as the artifact manifest under its
// digest, then, where the registry has no API, added to that index.
import type { Digest } from '../../digest.ts';
import { isDigest } from '../../digest.ts';
import { MANIFEST_SIZE_MAX } from '../../manifest/index.ts';
import type { CallOptions, ReferrerDescriptor } from '../../types.ts';
import { repositoryScope } from './auth.ts';
import type { RegistryClient } from './client.ts';
import { DockerError, isManifestAbsent } from './errors.ts';
import { drain, mimeOf, readCapped } from './http.ts';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** A fallback index never grows past this many referrers (its manifest size cap comes first anyway). */
export const MAX_FALLBACK_REFERRERS = 1000;

export function referrersTag(subject: Digest): string {
  return subject.replace(':', '-');
}

/** True when the registry serves the referrers API (it then indexes pushed subjects itself). */
async function hasReferrersApi(
  client: RegistryClient,
  repo: string,
  subject: Digest,
  call: CallOptions,
): Promise<boolean> {
  const res = await client.request(
    {
      method: 'GET',
      path: `/v2/${repo}/referrers/${subject}`,
      headers: { accept: OCI_INDEX },
      scopes: [repositoryScope(repo, 'pull')],
      accept: [404, 405, 400],
    },
    client.bounds(call),
  );
  await drain(res.body);
  const type = String(res.headers['content-type'] ?? '')
    .split(';', 1)[0]!
    .trim();
  return res.status === 200 && type === OCI_INDEX;
}

async function fallbackEntries(
  client: RegistryClient,
  repo: string,
  subject: Digest,
  call: CallOptions,
): Promise<unknown[]> {
  try {
    const m = await client.getManifest(repo, referrersTag(subject), { ...call, accept: [OCI_INDEX] });
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
  call: CallOptions = {},
): Promise<void> {
  await client.putManifest(repo, descriptor.digest, manifest, descriptor.mediaType, call);
  if (await hasReferrersApi(client, repo, subject, call)) return;
  const entries = await fallbackEntries(client, repo, subject, call);
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
  if (index.byteLength > MANIFEST_SIZE_MAX)
    throw new DockerError(
      'TOO_LARGE',
      `referrers index of ${subject}: larger than ${MANIFEST_SIZE_MAX} bytes`,
    );
  await client.putManifest(repo, referrersTag(subject), index, OCI_INDEX, call);
}

/**
 * OCI 1.1 referrers of `digest`; registries without the API (404/405/400) fall back to the
 * `sha256-<hex>` tag schema. At most `max` descriptors. `tagAbsent`: the caller knows there is
 * no such tag, so the fallback is not asked for.
 */
export async function listReferrers(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  artifactType?: string,
  max = 1000,
  options: { readonly tagAbsent?: boolean } & CallOptions = {},
): Promise<ReferrerDescriptor[]> {
  const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
  let index: Uint8Array | undefined;
  if (client.session.withoutReferrersApi.get(client.registry) === undefined) {
    const res = await client.request(
      {
        method: 'GET',
        path: `/v2/${repo}/referrers/${digest}${query}`,
        headers: { accept: 'application/vnd.oci.image.index.v1+json' },
        scopes: [repositoryScope(repo, 'pull')],
        accept: [404, 405, 400],
      },
      client.bounds(options),
    );
    const type = mimeOf(res.headers['content-type']);
    if (res.status === 200 && type === 'application/vnd.oci.image.index.v1+json') {
      index = await readCapped(res.body, MANIFEST_SIZE_MAX, `listing referrers of ${digest}`);
    } else {
      await drain(res.body);
      // distribution-spec 1.1 forbids a 404 from a registry that has the API: a plain (not a
      // Distribution error JSON) 404 is the router's "no such endpoint", so later listings on
      // this registry go straight to the tag schema instead of asking again per image.
      if (res.status === 404 && type !== 'application/json') {
        client.session.withoutReferrersApi.set(client.registry, true);
      }
    }
  }
  if (index === undefined) {
    if (options.tagAbsent === true) return [];
    try {
      index = (
        await client.getManifest(repo, digest.replace(':', '-'), {
          ...options,
          accept: ['application/vnd.oci.image.index.v1+json'],
        })
      ).manifest;
    } catch (err) {
      if (isManifestAbsent(err)) return [];
      throw err;
    }
  }
  return descriptorsOf(index, artifactType, max, `referrers of ${digest}`);
}

/** The descriptors of an OCI index (referrers), filtered by artifactType, at most `max`. */
function descriptorsOf(
  index: Uint8Array,
  artifactType: string | undefined,
  max: number,
  what: string,
): ReferrerDescriptor[] {
  let doc: { manifests?: unknown };
  try {
    doc = JSON.parse(Buffer.from(index).toString('utf8')) as { manifests?: unknown };
  } catch {
    throw new DockerError('BAD_RESPONSE', `${what}: index is not JSON`);
  }
  if (!Array.isArray(doc.manifests)) return [];
  const out: ReferrerDescriptor[] = [];
  for (const m of doc.manifests) {
    const d = m as Record<string, unknown>;
    if (
      typeof d.digest !== 'string' ||
      !isDigest(d.digest) ||
      typeof d.mediaType !== 'string' ||
      typeof d.size !== 'number'
    ) {
      throw new DockerError('BAD_RESPONSE', `${what}: invalid descriptor`);
    }
    const at = typeof d.artifactType === 'string' ? d.artifactType : undefined;
    if (artifactType !== undefined && at !== artifactType) continue;
    out.push({
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      ...(at !== undefined ? { artifactType: at } : {}),
      ...(typeof d.annotations === 'object' && d.annotations !== null
        ? { annotations: d.annotations as Record<string, string> }
        : {}),
    });
    if (out.length >= max) break;
  }
  return out;
}
