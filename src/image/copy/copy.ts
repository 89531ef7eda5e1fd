// The copy engine (upstream copy.Image): policy check first, then blobs in parallel, manifest
// conversion when needed, signatures, commit.
import { type Digest, DigestError, digestAlgorithm, digestOf } from '../digest.ts';
import {
  canChangeLayerCompression,
  chooseInstance as choosePlatformInstance,
  configInfo,
  convertList,
  convertManifest,
  DOCKER_V2_LIST_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  isListMIMEType,
  type LayerUpdate,
  layerInfos,
  ManifestError,
  type ManifestList,
  OCI_INDEX_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  parseList,
  parseManifest,
  serializeManifest,
  updateLayerInfos,
} from '../manifest/index.ts';
import type { DockerReference } from '../reference/index.ts';
import type {
  BlobInfo,
  ImageDestination,
  ImageReference,
  ImageSource,
  ManifestBytes,
  Platform,
  Signature,
  SignatureWants,
  UnparsedImage,
} from '../types.ts';
import { type CopiedBlob, copyBlob, type LayerPlan, putBlobBytes } from './blobs.ts';
import { attachReferrer, copyAttestations, copyReferrers } from './referrers.ts';
import { withRetry } from './retry.ts';
import { CopyError, type CopyOptions, type CopyResult, type ProgressSink } from './types.ts';

const DEFAULT_PARALLEL = 6;

const MAX_CONFIG = 4 * 1024 * 1024;

/** The instance of `list` for the wanted platform (upstream ChooseInstance), as a typed copy error. */
function chooseInstance(list: ManifestList, platform: Platform | undefined, what: string): Digest {
  try {
    return choosePlatformInstance(list, platform === undefined ? {} : { platform }).digest;
  } catch (err) {
    if (err instanceof ManifestError && err.code === 'NO_MATCHING_PLATFORM') {
      throw new CopyError(
        'NO_MATCHING_INSTANCE',
        `choosing an image from manifest list ${what}: ${err.message}`,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
}

/** Reads a config blob whole (it is small and conversions re-encode it), verifying its digest. */
async function readConfig(src: ImageSource, info: BlobInfo): Promise<Buffer> {
  const { stream } = await src.getBlob(info);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_CONFIG) {
      stream.destroy();
      throw new CopyError(
        'MANIFEST_CONVERSION_FAILED',
        `config ${info.digest}: larger than ${MAX_CONFIG} bytes`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  if (digestOf(bytes, digestAlgorithm(info.digest)) !== info.digest) {
    throw new DigestError('DIGEST_MISMATCH', `config ${info.digest}: digest did not match`);
  }
  return bytes;
}

/**
 * Keeps the config's progress line after every layer's, as upstream prints them (it copies the
 * config after the layers), while the config is copied alongside them: the config job waits until
 * each layer has reported starting or being skipped (or has settled without a report).
 */
function configLineLast(
  sink: ProgressSink | undefined,
  layers: number,
): {
  layersReported: Promise<void>;
  layer(i: number): { sink: ProgressSink | undefined; done(): void };
} {
  if (sink === undefined || layers === 0) {
    return { layersReported: Promise.resolve(), layer: () => ({ sink, done() {} }) };
  }
  const { promise: layersReported, resolve } = Promise.withResolvers<void>();
  const reported = new Set<number>();
  return {
    layersReported,
    layer(i) {
      const done = () => {
        reported.add(i);
        if (reported.size === layers) resolve();
      };
      return {
        sink: {
          blobStarted(kind, info) {
            const progress = sink.blobStarted(kind, info);
            done();
            return progress;
          },
          blobSkipped(kind, info) {
            sink.blobSkipped(kind, info);
            done();
          },
          message: (line) => sink.message(line),
        },
        done,
      };
    },
  };
}

/** Upstream determineManifestConversion, restricted to the conversions we can do. */
function chooseManifestType(srcType: string, dest: ImageDestination, forced: string | undefined): string {
  const supported = dest.supportedManifestMIMETypes();
  if (forced !== undefined) {
    if (supported !== undefined && !supported.includes(forced)) {
      throw new CopyError(
        'MANIFEST_CONVERSION_FAILED',
        `destination ${dest.reference.transport.name}: does not accept manifest type ${forced}`,
      );
    }
    return forced;
  }
  if (supported === undefined || supported.includes(srcType)) return srcType;
  const convertible = [DOCKER_V2_SCHEMA2_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE];
  const choice = [DOCKER_V2_SCHEMA2_MEDIA_TYPE, ...supported].find(
    (t) => supported.includes(t) && convertible.includes(t),
  );
  if (choice === undefined) {
    throw new CopyError(
      'MANIFEST_CONVERSION_FAILED',
      `manifest type ${srcType} is not accepted by the destination (accepts ${supported.join(', ')})`,
    );
  }
  return choice;
}

function listTypeFor(srcType: string, dest: ImageDestination, forced: string | undefined): string {
  const supported = dest.supportedManifestMIMETypes();
  if (forced === OCI_MANIFEST_MEDIA_TYPE) return OCI_INDEX_MEDIA_TYPE;
  if (forced === DOCKER_V2_SCHEMA2_MEDIA_TYPE) return DOCKER_V2_LIST_MEDIA_TYPE;
  if (supported === undefined || supported.includes(srcType)) return srcType;
  const other = srcType === OCI_INDEX_MEDIA_TYPE ? DOCKER_V2_LIST_MEDIA_TYPE : OCI_INDEX_MEDIA_TYPE;
  if (supported.includes(other)) return other;
  throw new CopyError('LISTS_UNSUPPORTED', `destination does not accept manifest lists of type ${srcType}`);
}

/**
 * Runs `fn` over `items`, `limit` at a time. The first failure aborts `siblings` (so the jobs in
 * flight stop instead of running to their end), and is what this throws once every job settled.
 */
async function limitedMap<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number, siblings: AbortSignal) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const siblings = new AbortController();
  let next = 0;
  let failure: { readonly error: unknown } | undefined;
  async function worker(): Promise<void> {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i, siblings.signal);
      } catch (err) {
        if (failure === undefined) {
          failure = { error: err };
          siblings.abort(err);
        }
        return;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}

function describe(ref: ImageReference): string {
  return `${ref.transport.name}:${ref.stringWithinTransport()}`;
}

/** The defaults of CopyOptions, applied once; what stays optional means "not asked for". */
type Defaulted =
  | 'sourceCtx'
  | 'destCtx'
  | 'signers'
  | 'referrerSigners'
  | 'removeSignatures'
  | 'multiArch'
  | 'preserveDigests'
  | 'parallelCopies'
  | 'retryTimes'
  | 'retryDelayMs'
  | 'skipExisting';
type ResolvedCopyOptions = Omit<CopyOptions, Defaulted> & Required<Pick<CopyOptions, Defaulted>>;

function resolveOptions(o: CopyOptions): ResolvedCopyOptions {
  return {
    ...o,
    sourceCtx: o.sourceCtx ?? {},
    destCtx: o.destCtx ?? {},
    signers: o.signers ?? [],
    referrerSigners: o.referrerSigners ?? [],
    removeSignatures: o.removeSignatures ?? false,
    multiArch: o.multiArch ?? 'system',
    preserveDigests: o.preserveDigests ?? false,
    parallelCopies: o.parallelCopies ?? DEFAULT_PARALLEL,
    retryTimes: o.retryTimes ?? 0,
    retryDelayMs: o.retryDelayMs ?? 0,
    skipExisting: o.skipExisting ?? false,
  };
}

interface Session {
  readonly src: ImageSource;
  readonly dest: ImageDestination;
  readonly options: ResolvedCopyOptions;
  readonly parallel: number;
  readonly counts: { copied: number; created: number; referrers: number; attestations: number };
}

async function checkPolicy(s: Session, instanceDigest?: Digest): Promise<void> {
  if (s.options.policy === undefined) return;
  const image: UnparsedImage = {
    reference: s.src.reference,
    manifest: () => s.src.getManifest(instanceDigest),
    signatures: (wants?: SignatureWants) => s.src.getSignatures(instanceDigest, wants),
  };
  try {
    await s.options.policy.checkSource(image);
  } catch (err) {
    throw new CopyError('SOURCE_REJECTED', `source image rejected: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

async function readManifest(src: ImageSource, instanceDigest?: Digest): Promise<ManifestBytes> {
  const m = await src.getManifest(instanceDigest);
  if (
    instanceDigest !== undefined &&
    digestOf(m.manifest, digestAlgorithm(instanceDigest)) !== instanceDigest
  ) {
    throw new CopyError(
      'INSTANCE_DIGEST_MISMATCH',
      `manifest of instance ${instanceDigest} in ${describe(src.reference)} does not match its digest`,
    );
  }
  return m;
}

async function sourceSignatures(s: Session, instanceDigest?: Digest): Promise<Signature[]> {
  if (s.options.removeSignatures) return [];
  const sigs = await s.src.getSignatures(instanceDigest);
  const reason = s.dest.supportsSignatures();
  if (sigs.length > 0 && reason !== undefined) {
    throw new CopyError(
      'SIGNATURES_UNSUPPORTED',
      `can not copy signatures to ${describe(s.dest.reference)}: ${reason} (use --remove-signatures to drop them)`,
    );
  }
  return sigs;
}

function signingIdentity(s: Session): DockerReference {
  const identity = s.options.signIdentity ?? s.dest.reference.dockerReference();
  if (identity === undefined) {
    throw new CopyError(
      'NO_SIGNING_IDENTITY',
      `cannot determine canonical docker reference for destination ${describe(s.dest.reference)}`,
    );
  }
  return identity;
}

async function signing<T>(sign: () => Promise<T>): Promise<T> {
  try {
    return await sign();
  } catch (err) {
    throw new CopyError('SIGNING_FAILED', `creating signature: ${(err as Error).message}`, { cause: err });
  }
}

async function storeSignatures(
  s: Session,
  copied: Signature[],
  manifest: Uint8Array,
  instanceDigest?: Digest,
): Promise<void> {
  const signers = s.options.signers;
  const all = [...copied];
  if (signers.length > 0) {
    const identity = signingIdentity(s);
    for (const signer of signers) all.push(await signing(() => signer.sign(manifest, identity)));
  }
  // skopeo 1.9 prints this line whether or not there are signatures; keep its output.
  s.options.progress?.message('Storing signatures');
  if (all.length > 0) await s.dest.putSignatures(all, instanceDigest);
  s.counts.copied += copied.length;
  s.counts.created += all.length - copied.length;
}

/**
 * Referrers of the source manifest follow it to the manifest written, and referrer signers attach
 * theirs (before commit tags it).
 */
async function carryReferrers(
  s: Session,
  sourceDigest: Digest,
  written: ManifestBytes & { digest: Digest },
): Promise<void> {
  const subject = {
    sourceDigest,
    digest: written.digest,
    mediaType: written.mimeType,
    size: written.manifest.byteLength,
  };
  if (!s.options.removeSignatures) {
    s.counts.referrers += await copyReferrers(s.src, s.dest, subject, s.options.progress);
    s.counts.attestations += await copyAttestations(s.src, s.dest, subject, s.options.progress);
  }
  const signers = s.options.referrerSigners;
  if (signers.length === 0) return;
  const identity = signingIdentity(s);
  for (const signer of signers) {
    const artifact = await signing(() => signer.sign(written.manifest, identity));
    await attachReferrer(s.dest, subject, artifact);
    s.counts.created++;
  }
}

/** Copies one image (not a list); returns the manifest written. */
async function copySingle(
  s: Session,
  instanceDigest: Digest | undefined,
  asInstance: boolean,
): Promise<ManifestBytes & { digest: Digest }> {
  await checkPolicy(s, instanceDigest);
  const { manifest, mimeType } = await readManifest(s.src, instanceDigest);
  if (isListMIMEType(mimeType)) {
    throw new CopyError(
      'NESTED_LIST',
      `${describe(s.src.reference)}: manifest list contains a manifest list`,
    );
  }
  s.options.progress?.message('Getting image source signatures');
  const sigs = await sourceSignatures(s, instanceDigest);
  const canModify = sigs.length === 0 && !s.options.preserveDigests;
  const targetType = chooseManifestType(mimeType, s.dest, s.options.forceManifestMIMEType);
  const converting = targetType !== mimeType;
  if (converting && !canModify) {
    throw new CopyError(
      'DIGESTS_WOULD_CHANGE',
      s.options.preserveDigests
        ? `copying ${describe(s.src.reference)}: manifest conversion to ${targetType} required, but digests must be preserved`
        : `copying ${describe(s.src.reference)}: manifest conversion to ${targetType} would invalidate its signatures; use --remove-signatures`,
    );
  }
  const m = parseManifest(manifest, mimeType);
  if (converting && m.kind === 'schema1') {
    throw new CopyError(
      'MANIFEST_CONVERSION_FAILED',
      `copying ${describe(s.src.reference)}: converting schema1 manifests is not supported (it needs the layers' DiffIDs)`,
    );
  }
  const desired = canModify ? s.dest.desiredLayerCompression : 'preserve';
  const plan: LayerPlan = {
    desired,
    ...(s.options.compressionFormat !== undefined ? { format: s.options.compressionFormat } : {}),
    ...(s.options.compressionLevel !== undefined ? { level: s.options.compressionLevel } : {}),
    needDetection: converting,
    canChangeCompression: (mediaType) =>
      mediaType === undefined || canChangeLayerCompression(mimeType, mediaType),
  };
  const retry = <T>(fn: () => Promise<T>, siblings?: AbortSignal): Promise<T> => {
    const signals = [s.options.signal, siblings].filter((x) => x !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    return withRetry(fn, s.options.retryTimes, s.options.retryDelayMs, signal);
  };
  const config = configInfo(m);
  const layerList = layerInfos(m);
  // Copied as it is, the config is one more job in the layers' pool, queued last (so progress
  // lines keep upstream's order) rather than a round of requests after the slowest layer: only
  // the manifest, written below, needs every blob in place.
  const configJob = config !== undefined && !converting ? [config] : [];
  const order = configLineLast(s.options.progress, layerList.length);
  const jobs = [...layerList, ...configJob];
  const copied: CopiedBlob[] = await limitedMap(jobs, s.parallel, async (blob, i, siblings) => {
    if (i >= layerList.length) {
      await order.layersReported;
      const config = () => copyBlob(s.src, s.dest, blob, 'config', undefined, s.options.progress, siblings);
      return retry(config, siblings);
    }
    const reported = order.layer(i);
    if (blob.urls !== undefined && blob.urls.length > 0 && s.dest.acceptsForeignLayerURLs) {
      reported.done();
      return { info: blob, changed: false };
    }
    const layer = () => copyBlob(s.src, s.dest, blob, 'blob', plan, reported.sink, siblings);
    return retry(layer, siblings).finally(reported.done);
  });
  const layers = copied.slice(0, layerList.length);
  // A schema2 -> OCI conversion re-encodes the config, so its bytes are needed then.
  let configBytes: Buffer | undefined;
  if (config !== undefined && converting) {
    configBytes = await retry(() => readConfig(s.src, config));
    await putBlobBytes(s.dest, configBytes, 'config', s.options.progress);
  }
  let out = manifest;
  if (converting || layers.some((l) => l.changed)) {
    try {
      const updates: LayerUpdate[] = layers.map((l) => {
        const c = l.compression;
        const writable = c === 'gzip' || c === 'zstd' || c === 'uncompressed' ? c : undefined;
        return { ...l.info, ...(writable !== undefined ? { compression: writable } : {}) };
      });
      const updated = updateLayerInfos(m, updates);
      if (converting) {
        const result = convertManifest(
          updated,
          targetType,
          configBytes !== undefined ? { config: configBytes } : {},
        );
        if (result.config !== undefined)
          await putBlobBytes(s.dest, result.config.bytes, 'config', s.options.progress);
        out = result.bytes;
      } else {
        out = serializeManifest(updated);
      }
    } catch (err) {
      if (!(err instanceof ManifestError)) throw err;
      throw new CopyError('MANIFEST_CONVERSION_FAILED', `preparing manifest ${targetType}: ${err.message}`, {
        cause: err,
      });
    }
  }
  const digest = digestOf(out);
  s.options.progress?.message('Writing manifest to image destination');
  await s.dest.putManifest(out, targetType, asInstance ? digest : undefined);
  await storeSignatures(s, sigs, out, asInstance ? digest : undefined);
  const written = { manifest: out, mimeType: targetType, digest };
  await carryReferrers(s, digestOf(manifest), written);
  return written;
}

async function copyList(
  s: Session,
  list: ManifestBytes,
  mode: 'all' | 'index-only',
): Promise<ManifestBytes & { digest: Digest }> {
  if (!s.dest.supportsManifestLists) {
    throw new CopyError(
      'LISTS_UNSUPPORTED',
      `destination ${describe(s.dest.reference)} does not support manifest lists`,
    );
  }
  await checkPolicy(s);
  const sigs = await sourceSignatures(s);
  const canModify = sigs.length === 0 && !s.options.preserveDigests;
  const parsed = parseList(list.manifest, list.mimeType);
  const instances = parsed.instances;
  const updated: BlobInfo[] = [];
  if (mode === 'all') {
    for (const [i, instance] of instances.entries()) {
      s.options.progress?.message(`Copying ${i + 1} of ${instances.length} images in list`);
      const copied = await copySingle(s, instance.digest, true);
      updated.push({
        ...instance,
        digest: copied.digest,
        size: copied.manifest.byteLength,
        mediaType: copied.mimeType,
      });
    }
  }
  const listType = listTypeFor(list.mimeType, s.dest, s.options.forceManifestMIMEType);
  const changed = listType !== list.mimeType || updated.some((u, i) => u.digest !== instances[i]!.digest);
  if (changed && !canModify) {
    throw new CopyError(
      'DIGESTS_WOULD_CHANGE',
      `copying ${describe(s.src.reference)}: the manifest list would have to change`,
    );
  }
  let out = list.manifest;
  if (changed) {
    const withCopies: ManifestList =
      updated.length === 0
        ? parsed
        : {
            ...parsed,
            instances: instances.map((inst, i) => ({
              ...inst,
              digest: updated[i]!.digest,
              size: updated[i]!.size,
              mediaType: updated[i]!.mediaType ?? inst.mediaType,
            })),
          };
    out = convertList(withCopies, listType).bytes;
  }
  const digest = digestOf(out);
  s.options.progress?.message('Writing manifest list to image destination');
  await s.dest.putManifest(out, listType);
  await storeSignatures(s, sigs, out);
  const written = { manifest: out, mimeType: listType, digest };
  await carryReferrers(s, digestOf(list.manifest), written);
  return written;
}

/** True when the destination already holds `wanted` (upstream OptimizeDestinationImageAlreadyExists). */
async function alreadyPresent(
  destRef: ImageReference,
  options: ResolvedCopyOptions,
  wanted: Digest,
): Promise<boolean> {
  const ctx = options.destCtx;
  const listed = options.destinationTags;
  const named = destRef.dockerReference();
  if (
    listed !== undefined &&
    named?.tag !== undefined &&
    named.digest === undefined &&
    listed.repository === named.name() &&
    !listed.tags.has(named.tag)
  )
    return false;
  const probed = await options.probeDestination?.(destRef, ctx).catch(() => undefined);
  if (probed !== undefined) return probed.digest === wanted;
  let existing: ImageSource;
  try {
    existing = await destRef.newImageSource(ctx);
  } catch {
    return false;
  }
  try {
    if (existing.getManifestDigest !== undefined) return (await existing.getManifestDigest()) === wanted;
    return digestOf((await existing.getManifest()).manifest) === wanted;
  } catch {
    return false;
  } finally {
    await existing.close();
  }
}

/** Copies `srcRef` to `destRef`; the destination is committed only when everything succeeded. */
export async function copyImage(
  destRef: ImageReference,
  srcRef: ImageReference,
  copyOptions: CopyOptions = {},
): Promise<CopyResult> {
  const options = resolveOptions(copyOptions);
  const src = await srcRef.newImageSource(options.sourceCtx);
  if (options.sourceTags !== undefined) src.useTagSnapshot?.(options.sourceTags);
  try {
    const top = await src.getManifest();
    if (options.skipExisting) {
      let wanted = digestOf(top.manifest);
      if (isListMIMEType(top.mimeType) && options.multiArch === 'system') {
        wanted = chooseInstance(
          parseList(top.manifest, top.mimeType),
          options.sourceCtx?.platform,
          describe(srcRef),
        );
      }
      if (await alreadyPresent(destRef, options, wanted)) {
        options.progress?.message('Skipping: image already present at destination');
        const m = wanted === digestOf(top.manifest) ? top : await readManifest(src, wanted);
        return {
          manifest: m.manifest,
          mimeType: m.mimeType,
          manifestDigest: wanted,
          skipped: true,
          signatures: { copied: 0, created: 0, referrers: 0, attestations: 0 },
        };
      }
    }
    const dest = await destRef.newImageDestination(options.destCtx);
    if (options.destinationTags !== undefined) dest.useTagSnapshot?.(options.destinationTags);
    try {
      const threadSafe = src.hasThreadSafeGetBlob && dest.hasThreadSafePutBlob;
      const s: Session = {
        src,
        dest,
        options,
        parallel: threadSafe ? options.parallelCopies : 1,
        counts: { copied: 0, created: 0, referrers: 0, attestations: 0 },
      };
      let written: ManifestBytes & { digest: Digest };
      if (!isListMIMEType(top.mimeType)) {
        written = await copySingle(s, undefined, false);
      } else {
        const mode = options.multiArch;
        if (mode === 'system') {
          const chosen = chooseInstance(
            parseList(top.manifest, top.mimeType),
            options.sourceCtx?.platform,
            describe(srcRef),
          );
          written = await copySingle(s, chosen, false);
        } else {
          written = await copyList(s, top, mode);
        }
      }
      await dest.commit();
      return {
        manifest: written.manifest,
        mimeType: written.mimeType,
        manifestDigest: written.digest,
        skipped: false,
        signatures: { ...s.counts },
      };
    } finally {
      await dest.close();
    }
  } finally {
    await src.close();
  }
}
