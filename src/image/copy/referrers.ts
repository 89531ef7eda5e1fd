// OCI 1.1 referrers (sigstore bundles, attestations, SBOMs) travel with the image they refer to:
// each artifact manifest and its blobs are copied, with `subject` pointing at the destination digest.
import { type Digest, digestOf } from '../digest.ts';
import type { ImageDestination, ImageSource, ReferrerDescriptor } from '../types.ts';
import { copyBlob, putBlobBytes } from './blobs.ts';
import { CopyError, type ProgressSink } from './types.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
/** An image carries at most this many referrers through a copy. */
export const MAX_REFERRERS = 128;

interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
}

function descriptorOf(value: unknown, what: string): Descriptor {
  const d = value as Partial<Record<keyof Descriptor, unknown>> | null;
  if (
    d === null ||
    typeof d !== 'object' ||
    typeof d.mediaType !== 'string' ||
    typeof d.digest !== 'string' ||
    typeof d.size !== 'number' ||
    !/^sha256:[a-f0-9]{64}$/.test(d.digest)
  ) {
    throw new CopyError('REFERRER_INVALID', `${what}: invalid descriptor`);
  }
  return { mediaType: d.mediaType, digest: d.digest as Digest, size: d.size };
}

/** The subject the referrer is about to point at: the image as written at the destination. */
export interface ReferrerSubject {
  readonly sourceDigest: Digest;
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
}

/**
 * Copies the referrers of `subject.sourceDigest` to the destination; returns how many were copied.
 * Nothing is copied when the source cannot list referrers or the destination cannot store them.
 */
export async function copyReferrers(
  src: ImageSource,
  dest: ImageDestination,
  subject: ReferrerSubject,
  progress: ProgressSink | undefined,
): Promise<number> {
  if (src.listReferrers === undefined) return 0;
  const listed = await src.listReferrers(subject.sourceDigest);
  if (listed.length === 0) return 0;
  if (listed.length > MAX_REFERRERS) {
    throw new CopyError(
      'REFERRER_INVALID',
      `referrers of ${subject.sourceDigest}: ${listed.length} listed, at most ${MAX_REFERRERS} are copied`,
    );
  }
  if (dest.putReferrer === undefined) {
    // Local layouts have no place for them; upstream never copies referrers at all.
    progress?.message(`Skipping ${listed.length} referrers: the destination cannot store them`);
    return 0;
  }
  let copied = 0;
  for (const referrer of listed) {
    // Nested indexes (referrers that are lists) are not produced by cosign or notation.
    if (referrer.mediaType !== OCI_MANIFEST) continue;
    await copyOne(src, dest, referrer, subject, progress);
    copied++;
  }
  return copied;
}

async function copyOne(
  src: ImageSource,
  dest: ImageDestination,
  referrer: ReferrerDescriptor,
  subject: ReferrerSubject,
  progress: ProgressSink | undefined,
): Promise<void> {
  const what = `referrer ${referrer.digest} of ${subject.sourceDigest}`;
  // getManifest by digest verifies the bytes against it.
  const { manifest } = await src.getManifest(referrer.digest);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(manifest).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CopyError('REFERRER_INVALID', `${what}: manifest is not JSON`, { cause: err });
  }
  const declared = descriptorOf(doc.subject, `${what}: subject`);
  if (declared.digest !== subject.sourceDigest) {
    throw new CopyError(
      'REFERRER_INVALID',
      `${what}: expected subject ${subject.sourceDigest}, got ${declared.digest}`,
    );
  }
  const layers = Array.isArray(doc.layers) ? doc.layers : [];
  const blobs = [
    descriptorOf(doc.config, `${what}: config`),
    ...layers.map((l) => descriptorOf(l, `${what}: layer`)),
  ];
  for (const blob of blobs) await copyBlob(src, dest, blob, 'blob', undefined, progress);
  let bytes = manifest;
  if (subject.digest !== subject.sourceDigest) {
    bytes = Buffer.from(
      JSON.stringify({
        ...doc,
        subject: {
          ...(doc.subject as object),
          mediaType: subject.mediaType,
          digest: subject.digest,
          size: subject.size,
        },
      }),
    );
  }
  await dest.putReferrer!(
    bytes,
    {
      mediaType: OCI_MANIFEST,
      digest: digestOf(bytes),
      size: bytes.byteLength,
      ...(referrer.artifactType !== undefined ? { artifactType: referrer.artifactType } : {}),
      ...(referrer.annotations !== undefined ? { annotations: referrer.annotations } : {}),
    },
    subject.digest,
  );
}

/**
 * Copies cosign's `.att` attestation attachment of `subject.sourceDigest`: each envelope blob
 * streamed, the attachment written for the same digest. Returns how many were copied. An
 * attestation names the digest in its signed statement, so when the copy wrote another digest they
 * are skipped (they could not be verified for it), as are sources and destinations without them.
 */
export async function copyAttestations(
  src: ImageSource,
  dest: ImageDestination,
  subject: ReferrerSubject,
  progress: ProgressSink | undefined,
): Promise<number> {
  if (src.getAttestationLayers === undefined) return 0;
  const layers = await src.getAttestationLayers(subject.sourceDigest);
  if (layers.length === 0) return 0;
  if (dest.putAttestationLayers === undefined) {
    progress?.message(`Skipping ${layers.length} attestations: the destination cannot store them`);
    return 0;
  }
  if (subject.digest !== subject.sourceDigest) {
    progress?.message(
      `Skipping ${layers.length} attestations: they name ${subject.sourceDigest}, the copy wrote ${subject.digest}`,
    );
    return 0;
  }
  for (const layer of layers) await copyBlob(src, dest, layer, 'blob', undefined, progress);
  await dest.putAttestationLayers(layers, subject.digest);
  return layers.length;
}

/**
 * Attaches `payload` to the manifest written as an OCI 1.1 artifact of `artifactType` (cosign v3's
 * layout for bundles: an empty config, the payload as the one layer).
 */
export async function attachReferrer(
  dest: ImageDestination,
  subject: ReferrerSubject,
  artifact: {
    readonly artifactType: string;
    readonly payload: Uint8Array;
    /** On the referrer manifest and its listing (cosign names a bundle's predicate type there). */
    readonly annotations?: Readonly<Record<string, string>>;
  },
): Promise<void> {
  if (dest.putReferrer === undefined) {
    throw new CopyError(
      'SIGNATURES_UNSUPPORTED',
      `can not attach a ${artifact.artifactType} referrer to ${dest.reference.transport.name}:${dest.reference.stringWithinTransport()}`,
    );
  }
  const config = await putBlobBytes(dest, Buffer.from('{}'), 'config');
  const layer = await putBlobBytes(dest, artifact.payload, 'blob');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: artifact.artifactType,
      config: { mediaType: OCI_EMPTY, digest: config.digest, size: config.size },
      layers: [{ mediaType: artifact.artifactType, digest: layer.digest, size: layer.size }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      ...(artifact.annotations === undefined ? {} : { annotations: artifact.annotations }),
    }),
  );
  await dest.putReferrer(
    manifest,
    {
      mediaType: OCI_MANIFEST,
      digest: digestOf(manifest),
      size: manifest.byteLength,
      artifactType: artifact.artifactType,
      ...(artifact.annotations === undefined ? {} : { annotations: artifact.annotations }),
    },
    subject.digest,
  );
}

/** cosign's `.att` layer media type and the annotations it writes on each layer. */
const DSSE_ENVELOPE = 'application/vnd.dsse.envelope.v1+json';

/**
 * Attaches a signed attestation to `subject` at `dest`: a DSSE envelope as a layer of cosign's
 * `sha256-<hex>.att` attachment (what cosign v2 writes, and v3 still reads), or a sigstore bundle
 * as an OCI 1.1 referrer (cosign v3's default), named by its predicate type either way.
 */
export async function attachAttestation(
  dest: ImageDestination,
  subject: ReferrerSubject,
  attestation:
    | { readonly format: 'att'; readonly envelope: Uint8Array; readonly predicateType: string }
    | { readonly format: 'bundle'; readonly bundle: Uint8Array; readonly predicateType: string },
): Promise<void> {
  if (attestation.format === 'bundle') {
    await attachReferrer(dest, subject, {
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      payload: attestation.bundle,
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': attestation.predicateType,
      },
    });
    return;
  }
  if (dest.putAttestationLayers === undefined) {
    throw new CopyError(
      'SIGNATURES_UNSUPPORTED',
      `can not attach attestations to ${dest.reference.transport.name}:${dest.reference.stringWithinTransport()}`,
    );
  }
  const layer = await putBlobBytes(dest, attestation.envelope, 'blob');
  await dest.putAttestationLayers(
    [
      {
        mediaType: DSSE_ENVELOPE,
        ...layer,
        annotations: {
          'dev.cosignproject.cosign/signature': '',
          predicateType: attestation.predicateType,
        },
      },
    ],
    subject.digest,
  );
}
