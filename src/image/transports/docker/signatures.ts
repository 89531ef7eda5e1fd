// Signature storage of the docker transport: lookaside (simple signing) and sigstore attachments.
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type Digest, digestOf } from '../../digest.ts';
import type { DockerReference } from '../../reference/index.ts';
import { lookasideSignatureUrl } from '../../registries/registries-d.ts';
import type { Signature } from '../../types.ts';
import type { RegistryClient } from './client.ts';
import { DockerError } from './errors.ts';
import { drain, type HttpClientOptions, readCapped, send } from './http.ts';

/** Upstream reads at most this many lookaside signatures per image. */
export const MAX_LOOKASIDE_SIGNATURES = 128;
/** Per-signature and per-image byte caps. */
export const MAX_SIGNATURE_SIZE = 4 << 20;
export const MAX_SIGNATURES_TOTAL = 64 << 20;
/** At most this many layers in a sigstore attachment manifest are read. */
export const MAX_SIGSTORE_LAYERS = 128;

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

/** cosign's attachment tags: `.sig` for signatures, `.att` for attestations. */
export type AttachmentKind = 'sig' | 'att';

export function sigstoreAttachmentTag(digest: Digest, kind: AttachmentKind = 'sig'): string {
  return `${digest.replace(':', '-')}.${kind}`;
}

function fileUrlPath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw new DockerError('REFERENCE_INVALID', `lookaside ${url}: invalid file URL`, { cause: err });
  }
}

/** Reads `signature-1`, `signature-2`, … until the first missing one (bounded count and size). */
export async function readLookaside(
  base: string,
  ref: DockerReference,
  digest: Digest,
  http: HttpClientOptions,
): Promise<Uint8Array[]> {
  const scheme = new URL(base).protocol;
  if (scheme !== 'file:' && scheme !== 'http:' && scheme !== 'https:') {
    throw new DockerError('OPERATION_NOT_POSSIBLE', `lookaside ${base}: unsupported scheme ${scheme}`);
  }
  const out: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < MAX_LOOKASIDE_SIGNATURES; i++) {
    const url = lookasideSignatureUrl(base, ref, digest, i);
    let blob: Uint8Array | undefined;
    if (scheme === 'file:') {
      const path = fileUrlPath(url);
      try {
        const st = await stat(path);
        if (st.size > MAX_SIGNATURE_SIZE)
          throw new DockerError(
            'TOO_LARGE',
            `lookaside signature ${path}: larger than ${MAX_SIGNATURE_SIZE} bytes`,
          );
        blob = await readFile(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    } else {
      const res = await send({ method: 'GET', url, followRedirects: true }, http);
      if (res.status === 404) await drain(res.body);
      else if (res.status !== 200) {
        await drain(res.body);
        throw new DockerError('HTTP_ERROR', `reading lookaside signature ${url}: status ${res.status}`, {
          status: res.status,
        });
      } else blob = await readCapped(res.body, MAX_SIGNATURE_SIZE, `reading lookaside signature ${url}`);
    }
    if (blob === undefined) return out;
    total += blob.byteLength;
    if (total > MAX_SIGNATURES_TOTAL)
      throw new DockerError(
        'TOO_LARGE',
        `lookaside signatures of ${digest}: more than ${MAX_SIGNATURES_TOTAL} bytes`,
      );
    out.push(blob);
  }
  return out;
}

/** Replaces the lookaside signatures of `digest` (file:// only, as upstream). */
export async function writeLookaside(
  base: string,
  ref: DockerReference,
  digest: Digest,
  blobs: readonly Uint8Array[],
): Promise<void> {
  if (new URL(base).protocol !== 'file:') {
    throw new DockerError(
      'OPERATION_NOT_POSSIBLE',
      `writing signatures to ${base}: only file:// lookaside locations can be written`,
    );
  }
  for (const [i, blob] of blobs.entries()) {
    const path = fileUrlPath(lookasideSignatureUrl(base, ref, digest, i));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, blob);
  }
  // Signatures left over from a longer, older list would otherwise be read as part of the new one.
  for (let i = blobs.length; i < MAX_LOOKASIDE_SIGNATURES; i++) {
    const path = fileUrlPath(lookasideSignatureUrl(base, ref, digest, i));
    try {
      await stat(path);
    } catch {
      return;
    }
    await rm(path);
  }
}

/** Deletes every lookaside signature of `digest` (file:// only; others are left alone). */
export async function deleteLookaside(base: string, ref: DockerReference, digest: Digest): Promise<void> {
  if (new URL(base).protocol !== 'file:') return;
  await writeLookaside(base, ref, digest, []);
}

export interface AttachmentLayer {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations: Record<string, string>;
}

/** The layers of an attachment manifest (an OCI image manifest, checked field by field). */
function attachmentLayers(
  manifest: Uint8Array,
  what: string,
): { layers: AttachmentLayer[]; config: { digest: Digest; size: number } | undefined } {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(manifest).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new DockerError('SIGNATURE_INVALID', `${what}: manifest is not JSON`);
  }
  const layersRaw = doc.layers;
  if (!Array.isArray(layersRaw))
    throw new DockerError('SIGNATURE_INVALID', `${what}: manifest has no layers`);
  if (layersRaw.length > MAX_SIGSTORE_LAYERS)
    throw new DockerError('TOO_LARGE', `${what}: more than ${MAX_SIGSTORE_LAYERS} signatures`);
  const layers = layersRaw.map((l): AttachmentLayer => {
    const o = l as Record<string, unknown>;
    if (
      typeof o.mediaType !== 'string' ||
      typeof o.digest !== 'string' ||
      typeof o.size !== 'number' ||
      !/^sha256:[a-f0-9]{64}$/.test(o.digest)
    ) {
      throw new DockerError('SIGNATURE_INVALID', `${what}: invalid layer descriptor`);
    }
    const annotations: Record<string, string> = {};
    if (typeof o.annotations === 'object' && o.annotations !== null) {
      for (const [k, v] of Object.entries(o.annotations)) if (typeof v === 'string') annotations[k] = v;
    }
    return { mediaType: o.mediaType, digest: o.digest as Digest, size: o.size, annotations };
  });
  const c = doc.config as Record<string, unknown> | undefined;
  const config =
    c !== undefined && typeof c.digest === 'string' && typeof c.size === 'number'
      ? { digest: c.digest as Digest, size: c.size }
      : undefined;
  return { layers, config };
}

async function readSmallBlob(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  limit: number,
  what: string,
): Promise<Buffer> {
  const { stream } = await client.getBlob(repo, digest);
  const bytes = await readCapped(stream, limit, what);
  if (digestOf(bytes) !== digest)
    throw new DockerError('DIGEST_MISMATCH', `${what}: blob does not match digest ${digest}`);
  return bytes;
}

async function attachmentManifest(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  kind: AttachmentKind = 'sig',
): Promise<Uint8Array | undefined> {
  try {
    const m = await client.getManifest(repo, sigstoreAttachmentTag(digest, kind), {
      accept: [OCI_MANIFEST],
    });
    if (m.mimeType !== OCI_MANIFEST) {
      throw new DockerError(
        'SIGNATURE_INVALID',
        `sigstore attachment of ${digest}: expected ${OCI_MANIFEST}, got ${JSON.stringify(m.mimeType)}`,
      );
    }
    return m.manifest;
  } catch (err) {
    if (err instanceof DockerError && err.code === 'MANIFEST_UNKNOWN') return undefined;
    throw err;
  }
}

/** The layers of the `sha256-<hex>.att` manifest, unread (attestations can be many MiB each). */
export async function readAttestationLayers(
  client: RegistryClient,
  repo: string,
  digest: Digest,
): Promise<AttachmentLayer[]> {
  const manifest = await attachmentManifest(client, repo, digest, 'att');
  return manifest === undefined ? [] : attachmentLayers(manifest, `attestations of ${digest}`).layers;
}

/** Every layer of the `sha256-<hex>.sig` manifest as a sigstore signature. */
export async function readSigstoreAttachments(
  client: RegistryClient,
  repo: string,
  digest: Digest,
): Promise<Signature[]> {
  const manifest = await attachmentManifest(client, repo, digest);
  if (manifest === undefined) return [];
  const what = `sigstore attachment of ${digest}`;
  const { layers } = attachmentLayers(manifest, what);
  const out: Signature[] = [];
  let total = 0;
  for (const layer of layers) {
    if (layer.size > MAX_SIGNATURE_SIZE)
      throw new DockerError(
        'TOO_LARGE',
        `${what}: layer of ${layer.size} bytes exceeds ${MAX_SIGNATURE_SIZE}`,
      );
    total += layer.size;
    if (total > MAX_SIGNATURES_TOTAL)
      throw new DockerError('TOO_LARGE', `${what}: more than ${MAX_SIGNATURES_TOTAL} bytes`);
    const payload = await readSmallBlob(
      client,
      repo,
      layer.digest,
      MAX_SIGNATURE_SIZE,
      `${what}: layer ${layer.digest}`,
    );
    out.push({ format: 'sigstore-json', mimeType: layer.mediaType, payload, annotations: layer.annotations });
  }
  return out;
}

function sameAnnotations(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/**
 * Adds sigstore signatures to the attachment manifest: existing layers are kept, identical ones
 * are not duplicated, the config's rootfs.diff_ids lists every layer digest.
 */
export async function writeSigstoreAttachments(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  signatures: readonly Extract<Signature, { format: 'sigstore-json' }>[],
): Promise<void> {
  if (signatures.length === 0) return;
  const layers: AttachmentLayer[] = [];
  for (const sig of signatures) {
    const layerDigest = digestOf(sig.payload);
    if ((await client.headBlob(repo, layerDigest)) === undefined) {
      await client.putBlob(
        repo,
        Readable.from([Buffer.from(sig.payload)]),
        layerDigest,
        sig.payload.byteLength,
      );
    }
    layers.push({
      mediaType: sig.mimeType,
      digest: layerDigest,
      size: sig.payload.byteLength,
      annotations: { ...sig.annotations },
    });
  }
  await writeAttachmentLayers(client, repo, digest, 'sig', layers);
}

/**
 * Adds layers (their blobs already in `repo`) to cosign's `.sig` or `.att` attachment manifest of
 * `digest`: existing layers are kept, identical ones are not duplicated, the config's
 * rootfs.diff_ids lists every layer digest.
 */
export async function writeAttachmentLayers(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  kind: AttachmentKind,
  added: readonly AttachmentLayer[],
): Promise<void> {
  if (added.length === 0) return;
  const what = `writing sigstore attachment ${sigstoreAttachmentTag(digest, kind)}`;
  const existing = await attachmentManifest(client, repo, digest, kind);
  const layers: AttachmentLayer[] = existing === undefined ? [] : attachmentLayers(existing, what).layers;
  for (const layer of added) {
    if (
      layers.some(
        (l) =>
          l.mediaType === layer.mediaType &&
          l.digest === layer.digest &&
          sameAnnotations(l.annotations, layer.annotations),
      )
    )
      continue;
    if (layers.length >= MAX_SIGSTORE_LAYERS)
      throw new DockerError('TOO_LARGE', `${what}: more than ${MAX_SIGSTORE_LAYERS} layers`);
    layers.push({ ...layer, annotations: { ...layer.annotations } });
  }
  // A zero-valued OCI image config, as Go marshals imgspecv1.Image{}, listing the layers.
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      os: '',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  );
  const configDigest = digestOf(config);
  if ((await client.headBlob(repo, configDigest)) === undefined) {
    await client.putBlob(repo, Readable.from([config]), configDigest, config.byteLength);
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.byteLength },
    layers: layers.map((l) => ({
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
      ...(Object.keys(l.annotations).length > 0 ? { annotations: l.annotations } : {}),
    })),
  };
  await client.putManifest(
    repo,
    sigstoreAttachmentTag(digest, kind),
    Buffer.from(JSON.stringify(manifest)),
    OCI_MANIFEST,
  );
}
