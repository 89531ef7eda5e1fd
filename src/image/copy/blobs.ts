// One blob from source to destination: reuse, or stream with on-the-fly verification and an
// optional compression step.
import { pipeline, Readable, Transform } from 'node:stream';
import { sniffedStream } from '../archive/compression.ts';
import { type Digest, digestOf, verifyingStream } from '../digest.ts';
import { SingleFlight } from '../single-flight.ts';
import type { BlobInfo, ImageDestination, ImageSource } from '../types.ts';
import { compressor, type DetectedCompression, decompressor } from './compression.ts';
import type { BlobKind, BlobProgress, CompressionFormat, ProgressSink } from './types.ts';

export interface LayerPlan {
  /** What the destination wants done with compression (upstream DesiredLayerCompression). */
  readonly desired: 'preserve' | 'compress' | 'decompress';
  /** `--dest-compress-format`; undefined = gzip when compressing, and never recompress. */
  readonly format?: CompressionFormat;
  readonly level?: number;
  /** Detect compression even when preserving (the manifest is being converted and needs the truth). */
  readonly needDetection: boolean;
  /**
   * Whether a layer of this media type may be stored with other compression (upstream
   * CanChangeLayerCompression): only image layer types; an artifact's layers are copied as they are.
   */
  readonly canChangeCompression: (mediaType: string | undefined) => boolean;
}

export interface CopiedBlob {
  readonly info: BlobInfo;
  /** Compression of the bytes now at the destination; undefined when not detected. */
  readonly compression?: DetectedCompression;
  /** True when the stored blob differs from the source one. */
  readonly changed: boolean;
}

function counting(progress: BlobProgress): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      progress.advance(chunk.length);
      callback(null, chunk);
    },
  });
}

const noProgress: BlobProgress = { advance() {}, done() {}, failed() {} };

/** Writes of one blob to one destination scope, shared by the copies in this process that want it. */
const inFlight = new SingleFlight<unknown>();

/**
 * Runs `work`, which stores blob `key` (a digest and how it is stored) in `dest`, unless the
 * same work for `dest.blobScope` is running: then waits for that one (`shared`).
 */
async function onceInScope<T>(
  dest: ImageDestination,
  key: string,
  work: () => Promise<T>,
): Promise<{ readonly value: T; readonly shared: boolean }> {
  const scope = dest.blobScope;
  if (scope === undefined) return { value: await work(), shared: false };
  return (await inFlight.run(`${scope}\n${key}`, work)) as { value: T; shared: boolean };
}

/** What decides the bytes a copy of `info` stores, besides its digest. */
function planKey(plan: LayerPlan | undefined, info: BlobInfo): string {
  if (plan === undefined) return '';
  const changeable = plan.canChangeCompression(info.mediaType);
  return `${plan.desired} ${plan.format ?? ''} ${plan.level ?? ''} ${plan.needDetection} ${changeable}`;
}

/**
 * Copies one blob. Source bytes are verified against `info.digest` as they flow; a mismatch fails
 * the destination write, which then leaves nothing behind. An abort of `cancel` (a sibling copy
 * failed) ends the source stream, so the write fails at once instead of running to its end.
 * Concurrent copies of one blob to one `dest.blobScope` are done once: the others wait for it
 * and report the blob as already there (when it fails, each tries on its own).
 */
export async function copyBlob(...args: Parameters<typeof copyBlobOnce>): Promise<CopiedBlob> {
  const [, dest, info, kind, plan, progressSink] = args;
  const { value, shared } = await onceInScope(dest, `${info.digest} ${kind} ${planKey(plan, info)}`, () =>
    copyBlobOnce(...args),
  );
  if (!shared) return value;
  progressSink?.blobSkipped(kind, info);
  return { ...value, info: { ...info, digest: value.info.digest, size: value.info.size } };
}

/** Stores `bytes` (a config, a small artifact blob) unless `dest` has them; shared as copyBlob is. */
export async function putBlobBytes(
  dest: ImageDestination,
  bytes: Uint8Array,
  kind: BlobKind,
  progressSink?: ProgressSink,
): Promise<{ digest: Digest; size: number }> {
  const info = { digest: digestOf(bytes), size: bytes.byteLength };
  const { value: stored, shared } = await onceInScope(dest, `${info.digest} ${kind} bytes`, async () => {
    if ((await dest.tryReusingBlob(info, { canSubstitute: false })) !== undefined) return false;
    const progress = progressSink?.blobStarted(kind, info);
    await dest.putBlob(Readable.from([Buffer.from(bytes)]), info, { isConfig: kind === 'config' });
    progress?.advance(bytes.byteLength);
    progress?.done();
    return true;
  });
  if (shared || !stored) progressSink?.blobSkipped(kind, info);
  return info;
}

async function copyBlobOnce(
  src: ImageSource,
  dest: ImageDestination,
  info: BlobInfo,
  kind: BlobKind,
  plan: LayerPlan | undefined,
  progressSink: ProgressSink | undefined,
  cancel?: AbortSignal,
): Promise<CopiedBlob> {
  cancel?.throwIfAborted();
  const reused = await dest.tryReusingBlob(info, { canSubstitute: false });
  if (reused !== undefined) {
    progressSink?.blobSkipped(kind, info);
    return { info: { ...info, digest: reused.digest, size: reused.size }, changed: false };
  }
  const progress = progressSink?.blobStarted(kind, info) ?? noProgress;
  let raw: Readable | undefined;
  const stop = () => raw?.destroy(cancel?.reason instanceof Error ? cancel.reason : undefined);
  cancel?.addEventListener('abort', stop, { once: true });
  try {
    raw = (await src.getBlob(info)).stream;
    cancel?.throwIfAborted();
    const what = `${kind} ${info.digest}`;
    // Sources that verify their own streams (registry pulls) are not hashed a second time.
    const stages: Transform[] = [];
    if (src.verifiesBlobs !== true) {
      stages.push(
        verifyingStream(info.digest, { ...(info.size >= 0 ? { expectedSize: info.size } : {}), what }),
      );
    }
    if (progressSink !== undefined) stages.push(counting(progress));
    const verified: Readable =
      stages.length === 0 ? raw : (pipeline([raw, ...stages], () => {}) as unknown as Readable);
    let stream: Readable = verified;
    let compression: DetectedCompression | undefined;
    let changed = false;
    if (
      plan !== undefined &&
      (plan.desired !== 'preserve' || plan.needDetection) &&
      plan.canChangeCompression(info.mediaType)
    ) {
      const sniffed = await sniffedStream(verified);
      stream = sniffed.stream;
      compression = sniffed.compression;
      const transforms = [];
      // Upstream blobPipelineCompressionStep: compress, recompress to an explicit other format, decompress.
      if (plan.desired === 'compress' && compression === 'uncompressed') {
        transforms.push(compressor(plan.format ?? 'gzip', plan.level));
        compression = plan.format ?? 'gzip';
      } else if (
        plan.desired === 'compress' &&
        plan.format !== undefined &&
        (compression === 'gzip' || compression === 'zstd') &&
        compression !== plan.format
      ) {
        transforms.push(decompressor(compression), compressor(plan.format, plan.level));
        compression = plan.format;
      } else if (plan.desired === 'decompress' && compression !== 'uncompressed') {
        transforms.push(decompressor(compression));
        compression = 'uncompressed';
      }
      if (transforms.length > 0) {
        changed = true;
        stream = pipeline([stream, ...transforms], () => {}) as unknown as Readable;
      }
    }
    const stored = await dest.putBlob(
      stream,
      changed ? { size: -1 } : { digest: info.digest, size: info.size },
      { isConfig: kind === 'config', streamVerified: !changed },
    );
    progress.done();
    return {
      info: { ...info, digest: stored.digest, size: stored.size },
      ...(compression !== undefined ? { compression } : {}),
      changed,
    };
  } catch (err) {
    raw?.destroy();
    progress.failed();
    throw err;
  } finally {
    cancel?.removeEventListener('abort', stop);
  }
}
