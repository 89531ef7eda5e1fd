// `portcullis sync --src docker|dir|yaml --dest docker|dir SOURCE DESTINATION`: skopeo sync, with
// several images in flight and images already at the destination skipped by digest.
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join, posix, relative } from 'node:path';
import { type CopyOptions, type CopyResult, copyImage, withRetry } from '../image/copy/index.ts';
import {
  type DockerReference,
  type ImageReference,
  imageName,
  isDigest,
  parseNormalizedNamed,
  type SystemContext,
  type TagSnapshot,
  type TransportRegistry,
} from '../image/index.ts';
import type { SigstoreVerifier } from '../image/signature/requirements/sigstore-signed.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io, TransportsFor } from './command.ts';
import { withGcPacing } from './gc-pacing.ts';
import { policyFlagSpecs, policyFromFlags } from './policy-flags.ts';
import { signFlagSpecs, signingFromFlags } from './sign-flags.ts';
import { parseSyncYaml } from './sync-config.ts';
import { buildSyncReport, type JobOutcome, type SyncReport, writeSyncReport } from './sync-report.ts';
import { copyOptionsFromFlags, parseCount, transferFlagSpecs } from './transfer-flags.ts';

const specs = {
  src: { type: 'string', short: 's', metavar: 'docker|dir|yaml', help: 'SOURCE transport type' },
  dest: { type: 'string', short: 'd', metavar: 'docker|dir', help: 'DESTINATION transport type' },
  scoped: { type: 'boolean', help: 'prefix destination images with the full source image path' },
  'append-suffix': { type: 'string', metavar: 'SUFFIX', help: 'string appended to destination tags' },
  digestfile: { type: 'string', metavar: 'PATH', help: 'write "DIGEST IMAGE" lines for the copied images' },
  all: { type: 'boolean', short: 'a', help: 'copy all images if SOURCE-IMAGE is a list' },
  'dry-run': { type: 'boolean', help: 'print what would be copied, copy nothing' },
  'keep-going': { type: 'boolean', help: 'do not abort the sync if an image copy fails' },
  'parallel-images': { type: 'string', metavar: 'N', help: 'images copied at once (default 4)' },
  report: { type: 'string', metavar: 'FILE', help: 'write a JSON report of every image (also on failure)' },
  'report-configmap': {
    type: 'string',
    metavar: '[NAMESPACE/]NAME',
    help: 'write the report to this Kubernetes ConfigMap (in-cluster mirror jobs)',
  },
  ...transferFlagSpecs,
  ...policyFlagSpecs,
  ...signFlagSpecs,
} as const;

/** What the composition root wires: transports, tag listing and a cheap destination probe (registry HEAD). */
export interface SyncDeps {
  readonly transports: TransportsFor;
  readonly listTags?: (repo: DockerReference, ctx: SystemContext) => Promise<string[]>;
  readonly probeDestination?: CopyOptions['probeDestination'];
  /** Tags of a destination repository; [] when it does not exist yet; fails beyond `maxTags`. */
  readonly listDestinationTags?: (
    repo: DockerReference,
    ctx: SystemContext,
    maxTags: number,
  ) => Promise<string[]>;
  readonly extraOptions?: (io: Io) => Promise<Partial<CopyOptions>>;
  readonly cleanup?: () => Promise<void>;
  /** Verifies sigstoreSigned policy requirements; without it they deny. */
  readonly sigstore?: SigstoreVerifier;
  /** Stores the report in a ConfigMap (`--report-configmap`); returns where it went. */
  readonly publishReport?: (target: string, report: SyncReport) => Promise<string>;
}

/** Tags of signatures and referrer indexes travel with their images, never as images of their own. */
const SIGNATURE_TAG = /^sha256-[a-f0-9]{64}(\.sig)?$/;

interface Planned {
  readonly source: ImageReference;
  /** What names the image below DESTINATION (docker: the reference; dir: the relative path). */
  readonly suffix: string;
  readonly ctx: SystemContext;
  /** The listing the image was found in: its copy need not ask for tags the listing lacks. */
  readonly tags?: TagSnapshot;
}

/** The image tags of `repo`, and the whole listing (signature tags included) as a snapshot. */
async function listTags(
  deps: SyncDeps,
  repo: DockerReference,
  ctx: SystemContext,
): Promise<{ images: string[]; snapshot: TagSnapshot }> {
  if (deps.listTags === undefined) {
    throw new CliError('FAILED', `listing tags of ${repo.name()}: no docker registry support is wired in`);
  }
  const listedAt = Date.now();
  const all = await deps.listTags(repo, ctx);
  return {
    images: all.filter((t) => !SIGNATURE_TAG.test(t)),
    snapshot: { repository: repo.name(), tags: new Set(all), listedAt },
  };
}

/** A destination listing is given up beyond this many tags per image synced to the repository. */
const LISTED_TAGS_PER_IMAGE = 100;

/** The destination repository of a docker reference; undefined for other transports. */
function registryRepository(ref: ImageReference): DockerReference | undefined {
  return ref.transport.name === 'docker' ? ref.dockerReference()?.trimmed() : undefined;
}

/**
 * One tag listing per destination repository, made when its first image is copied: the copies
 * need not probe the tags it lacks (nor look for blobs in a repository without tags). Undefined
 * where the destination is not a registry, cannot be listed, or holds so many tags that listing
 * them would cost more requests than probing (each tag is probed then).
 */
function destinationListings(
  deps: SyncDeps,
  destinations: readonly ImageReference[],
): (ref: ImageReference, ctx: SystemContext) => Promise<TagSnapshot | undefined> {
  const images = new Map<string, number>();
  for (const d of destinations) {
    const repo = registryRepository(d)?.name();
    if (repo !== undefined) images.set(repo, (images.get(repo) ?? 0) + 1);
  }
  const listings = new Map<string, Promise<TagSnapshot | undefined>>();
  return (ref, ctx) => {
    const named = registryRepository(ref);
    const list = deps.listDestinationTags;
    if (list === undefined || named === undefined) return Promise.resolve(undefined);
    let listing = listings.get(named.name());
    if (listing === undefined) {
      const listedAt = Date.now();
      const maxTags = LISTED_TAGS_PER_IMAGE * (images.get(named.name()) ?? 1);
      listing = list(named, ctx, maxTags).then(
        (tags) => ({ repository: named.name(), tags: new Set(tags), listedAt }),
        () => undefined,
      );
      listings.set(named.name(), listing);
    }
    return listing;
  };
}

async function dirImages(base: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    // upstream: a directory holding manifest.json is an image; its subdirectories are not searched.
    if (entries.some((e) => e.isFile() && e.name === 'manifest.json')) {
      found.push(dir);
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1)))
      if (e.isDirectory()) await walk(join(dir, e.name));
  };
  await walk(base);
  return found;
}

function dockerRef(registry: TransportRegistry, ref: DockerReference): ImageReference {
  return registry.parseImageName(`docker://${ref.toString()}`);
}

async function plan(
  deps: SyncDeps,
  registry: TransportRegistry,
  transport: string,
  source: string,
  ctx: SystemContext,
): Promise<Planned[]> {
  switch (transport) {
    case 'docker': {
      const named = parseNormalizedNamed(source);
      if (!named.isNameOnly()) return [{ source: dockerRef(registry, named), suffix: named.toString(), ctx }];
      const { images, snapshot } = await listTags(deps, named, ctx);
      if (images.length === 0)
        throw new CliError('FAILED', `no images to sync found in ${JSON.stringify(source)}`);
      return images.map((t) => {
        const r = named.withTag(t);
        return { source: dockerRef(registry, r), suffix: r.toString(), ctx, tags: snapshot };
      });
    }
    case 'dir': {
      try {
        await stat(source);
      } catch (err) {
        throw new CliError('FAILED', `invalid source directory specified: ${(err as Error).message}`, {
          cause: err,
        });
      }
      const dirs = await dirImages(source);
      if (dirs.length === 0)
        throw new CliError('FAILED', `no images to sync found in ${JSON.stringify(source)}`);
      return dirs.map((d) => {
        const rel = relative(source, d);
        return {
          source: registry.parseImageName(`dir:${d}`),
          suffix: rel === '' ? basename(source) : `/${rel}`,
          ctx,
        };
      });
    }
    case 'yaml': {
      const config = await parseSyncYaml(await readFile(source, 'utf8'), source);
      const out: Planned[] = [];
      for (const [host, cfg] of config) {
        const serverCtx: SystemContext = {
          ...ctx,
          ...(cfg.certDir !== undefined ? { certDir: cfg.certDir } : {}),
          ...(cfg.tlsVerify !== undefined ? { tlsVerify: cfg.tlsVerify } : {}),
          ...(cfg.credentials !== undefined ? { credentials: cfg.credentials } : {}),
        };
        const add = (r: DockerReference, tags?: TagSnapshot) =>
          out.push({
            source: dockerRef(registry, r),
            suffix: r.toString(),
            ctx: serverCtx,
            ...(tags !== undefined ? { tags } : {}),
          });
        for (const [repo, refs] of cfg.images) {
          const named = parseNormalizedNamed(`${host}/${repo}`);
          if (!named.isNameOnly())
            throw new CliError('USAGE', `${host}/${repo}: names a reference, not a repository`);
          if (refs.length === 0) {
            const { images, snapshot } = await listTags(deps, named, serverCtx);
            for (const t of images) add(named.withTag(t), snapshot);
          }
          for (const r of refs) add(isDigest(r) ? named.withDigest(r) : named.withTag(r));
        }
        const filtered: [string, (tag: string) => boolean][] = [
          ...[...cfg.imagesByTagRegex].map(([repo, re]): [string, (t: string) => boolean] => [
            repo,
            (t) => re.test(t),
          ]),
          ...[...cfg.imagesBySemver].map(([repo, c]): [string, (t: string) => boolean] => [
            repo,
            (t) => c.check(t),
          ]),
        ];
        for (const [repo, keep] of filtered) {
          const named = parseNormalizedNamed(`${host}/${repo}`);
          const { images, snapshot } = await listTags(deps, named, serverCtx);
          for (const t of images) if (keep(t)) add(named.withTag(t), snapshot);
        }
      }
      return out;
    }
    default:
      throw new CliError('USAGE', `${JSON.stringify(transport)} is not a valid source transport`);
  }
}

async function destinationFor(
  registry: TransportRegistry,
  transport: string,
  destination: string,
  suffix: string,
  dryRun: boolean,
): Promise<ImageReference> {
  const target = posix.join(destination, suffix);
  if (transport === 'docker') return registry.parseImageName(`docker://${target}`);
  // upstream refuses to overwrite an existing directory when syncing to dir:.
  try {
    await stat(target);
    throw new CliError('FAILED', `refusing to overwrite destination directory ${JSON.stringify(target)}`);
  } catch (err) {
    if (err instanceof CliError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!dryRun) await mkdir(posix.dirname(target), { recursive: true, mode: 0o755 });
  return registry.parseImageName(`dir:${target}`);
}

async function reportOutcome(
  deps: SyncDeps,
  flags: { readonly report?: string | undefined; readonly 'report-configmap'?: string | undefined },
  io: Io,
  startedAt: Date,
  jobs: readonly JobOutcome[],
  planError?: unknown,
): Promise<void> {
  if (flags.report === undefined && flags['report-configmap'] === undefined) return;
  const report = buildSyncReport(startedAt, new Date(), jobs, planError);
  if (flags.report !== undefined) await writeSyncReport(flags.report, report);
  const target = flags['report-configmap'];
  if (target === undefined) return;
  if (deps.publishReport === undefined)
    throw new CliError('FAILED', '--report-configmap: no Kubernetes support is wired in');
  io.stderr.write(`Report written to configmap ${await deps.publishReport(target, report)}\n`);
}

export function syncCommand(deps: SyncDeps): Command {
  return {
    usage: `Usage: portcullis sync [FLAGS] --src TRANSPORT --dest TRANSPORT SOURCE DESTINATION

Copies all the images from SOURCE to DESTINATION, as skopeo sync does, several images at a time;
images the destination already holds (same manifest digest) are skipped without pulling them.

Allowed SOURCE transports (--src): docker, dir, yaml. Allowed DESTINATION transports (--dest): docker, dir.

Flags:
${formatFlags(specs)}
`,
    async run(argv, io) {
      const { flags, positionals } = parseArgs(argv, specs);
      if (positionals.length !== 2) throw new CliError('USAGE', 'exactly two arguments expected');
      const [source, destination] = positionals as [string, string];
      const src = flags.src;
      const dest = flags.dest;
      if (src === undefined) throw new CliError('USAGE', 'a source transport must be specified');
      if (!['docker', 'dir', 'yaml'].includes(src))
        throw new CliError('USAGE', `${JSON.stringify(src)} is not a valid source transport`);
      if (dest === undefined) throw new CliError('USAGE', 'a destination transport must be specified');
      if (!['docker', 'dir'].includes(dest))
        throw new CliError('USAGE', `${JSON.stringify(dest)} is not a valid destination transport`);
      if (src === 'dir' && dest === 'dir') {
        throw new CliError('USAGE', "sync from 'dir' to 'dir' not implemented, consider using rsync instead");
      }
      // A yaml source names docker images.
      const registry = await deps.transports([`${src === 'yaml' ? 'docker' : src}:`, `${dest}:`]);
      const base = copyOptionsFromFlags(flags);
      const inFlight = parseCount('parallel-images', flags['parallel-images'], 4, 1);
      const dryRun = flags['dry-run'] ?? false;
      try {
        const planStarted = new Date();
        // A source that cannot even be listed is reported too (the mirror job's only status).
        const planned = await withRetry(
          () => plan(deps, registry, src, source, base.sourceCtx ?? {}),
          base.retryTimes ?? 0,
          base.retryDelayMs ?? 0,
        ).catch(async (err: unknown) => {
          if (!dryRun) await reportOutcome(deps, flags, io, planStarted, [], err);
          throw err;
        });
        const jobs: {
          from: ImageReference;
          to: ImageReference;
          ctx: SystemContext;
          tags: TagSnapshot | undefined;
        }[] = [];
        for (const p of planned) {
          const suffix =
            (flags.scoped ? p.suffix : posix.basename(p.suffix)) + (flags['append-suffix'] ?? '');
          jobs.push({
            from: p.source,
            to: await destinationFor(registry, dest, destination, suffix, dryRun),
            ctx: p.ctx,
            tags: p.tags,
          });
        }
        if (dryRun) {
          for (const [i, j] of jobs.entries()) {
            io.stdout.write(
              `Would have copied image ref ${i + 1}/${jobs.length} from ${imageName(j.from)} to ${imageName(j.to)}\n`,
            );
          }
          io.stdout.write(`Would have synced ${jobs.length} images\n`);
          return 0;
        }
        const policy = await policyFromFlags(flags, io.env, registry, deps.sigstore);
        const signing = await signingFromFlags(flags, io.env);
        const extra = deps.extraOptions !== undefined ? await deps.extraOptions(io) : {};
        const destinationTags = destinationListings(
          deps,
          jobs.map((j) => j.to),
        );
        const startedAt = new Date();
        const results: (CopyResult | undefined)[] = new Array(jobs.length);
        const errors: unknown[] = new Array(jobs.length);
        let failed = 0;
        let next = 0;
        let abort: unknown;
        // Two jobs for one destination (a tag both a regex and a semver range select) run one after
        // the other: the registry may garble concurrent pushes of the same manifest.
        const destinations = new Map<string, Promise<unknown>>();
        const worker = async (): Promise<void> => {
          while (abort === undefined && next < jobs.length) {
            const i = next++;
            const job = jobs[i]!;
            const key = imageName(job.to);
            const earlier = destinations.get(key);
            let done = (): void => {};
            destinations.set(
              key,
              new Promise((resolve) => {
                done = () => resolve(undefined);
              }),
            );
            try {
              await earlier;
              const listed = await destinationTags(job.to, base.destCtx ?? {});
              const result = await withRetry(
                () =>
                  copyImage(job.to, job.from, {
                    ...base,
                    sourceCtx: job.ctx,
                    ...(job.tags !== undefined ? { sourceTags: job.tags } : {}),
                    multiArch: flags.all ? 'all' : 'system',
                    skipExisting: true,
                    ...(listed !== undefined ? { destinationTags: listed } : {}),
                    ...(deps.probeDestination !== undefined
                      ? { probeDestination: deps.probeDestination }
                      : {}),
                    ...(policy !== undefined ? { policy } : {}),
                    ...signing,
                    ...extra,
                  }),
                base.retryTimes ?? 0,
                base.retryDelayMs ?? 0,
              );
              results[i] = result;
              if (!flags.quiet) {
                io.stdout.write(
                  result.skipped
                    ? `Skipping ${imageName(job.from)}: image already present at ${imageName(job.to)}\n`
                    : `Copied ${imageName(job.from)} to ${imageName(job.to)} (${result.manifestDigest})\n`,
                );
              }
            } catch (err) {
              failed++;
              errors[i] = err;
              io.stderr.write(
                `Error copying ref ${JSON.stringify(imageName(job.from))}: ${(err as Error).message}\n`,
              );
              if (!flags['keep-going']) abort = err;
            } finally {
              done();
            }
          }
        };
        await withGcPacing(() =>
          Promise.all(Array.from({ length: Math.min(inFlight, jobs.length) }, worker)),
        );
        if (flags.digestfile !== undefined) {
          const lines = jobs.flatMap((j, i) => {
            const r = results[i];
            return r === undefined ? [] : [`${r.manifestDigest} ${imageName(j.to)}\n`];
          });
          await writeFile(flags.digestfile, lines.join(''));
        }
        await reportOutcome(
          deps,
          flags,
          io,
          startedAt,
          jobs.map(
            (j, i): JobOutcome => ({
              source: imageName(j.from),
              destination: imageName(j.to),
              ...(results[i] !== undefined ? { result: results[i] } : {}),
              ...(errors[i] !== undefined ? { error: errors[i] } : {}),
            }),
          ),
        );
        if (abort !== undefined) {
          throw new CliError('FAILED', `error copying images: ${(abort as Error).message}`, { cause: abort });
        }
        const synced = results.filter((r) => r !== undefined).length;
        io.stderr.write(`Synced ${synced} images\n`);
        if (failed > 0)
          throw new CliError(
            'FAILED',
            'sync failed due to previous reported error(s) for one or more images',
          );
        return 0;
      } finally {
        await deps.cleanup?.();
      }
    },
  };
}
