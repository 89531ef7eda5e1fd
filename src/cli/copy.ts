// `portcullis copy SRC DEST`: skopeo copy.
import { writeFile } from 'node:fs/promises';
import { type CopyOptions, copyImage } from '../image/copy/index.ts';
import { parseNormalizedNamed } from '../image/reference/index.ts';
import type { SigstoreVerifier } from '../image/signature/requirements/sigstore-signed.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io, TransportsFor } from './command.ts';
import { withGcPacing } from './gc-pacing.ts';
import { policyFlagSpecs, policyFromFlags } from './policy-flags.ts';
import { progressFor } from './progress.ts';
import { signFlagSpecs, signingFromFlags } from './sign-flags.ts';
import { copyOptionsFromFlags, parseMultiArch, transferFlagSpecs } from './transfer-flags.ts';

const specs = {
  all: { type: 'boolean', short: 'a', help: 'copy every image of a list (same as --multi-arch=all)' },
  'multi-arch': {
    type: 'string',
    metavar: 'system|all|index-only',
    help: 'what to copy from a list (default system)',
  },
  digestfile: { type: 'string', metavar: 'PATH', help: 'write the digest of the copied manifest to PATH' },
  'additional-tag': {
    type: 'list',
    metavar: 'NAME:TAG',
    help: 'extra tags for docker-archive: destinations',
  },
  ...transferFlagSpecs,
  ...policyFlagSpecs,
  ...signFlagSpecs,
} as const;

/** Dependencies the composition root wires: transports, and (after merge) policy and signers. */
export interface CopyDeps {
  readonly transports: TransportsFor;
  readonly extraOptions?: (io: Io) => Promise<Partial<CopyOptions>>;
  /** Verifies sigstoreSigned policy requirements; without it they deny. */
  readonly sigstore?: SigstoreVerifier;
  /** Releases what transports keep open (registry connections) so the process can exit. */
  readonly cleanup?: () => Promise<void>;
}

export function copyCommand(deps: CopyDeps): Command {
  return {
    usage: `Usage: portcullis copy [FLAGS] SOURCE-IMAGE DESTINATION-IMAGE

Copies an image between transports (oci:, oci-archive:, dir:, docker-archive:, docker://, ...),
as skopeo copy does.

Flags:
${formatFlags(specs)}
`,
    async run(argv, io) {
      const { flags, positionals } = parseArgs(argv, specs);
      if (positionals.length !== 2) {
        throw new CliError(
          'USAGE',
          `expected exactly two arguments (source and destination), got ${positionals.length}`,
        );
      }
      const registry = await deps.transports(positionals);
      const src = registry.parseImageName(positionals[0]!);
      const dest = registry.parseImageName(positionals[1]!);
      const base = copyOptionsFromFlags(flags);
      const additionalTags = flags['additional-tag'].map((t) => {
        const ref = parseNormalizedNamed(t);
        if (ref.tag === undefined || ref.digest !== undefined) {
          throw new CliError('USAGE', `--additional-tag ${JSON.stringify(t)}: expected NAME:TAG`);
        }
        return ref;
      });
      const policy = await policyFromFlags(flags, io.env, registry, deps.sigstore);
      const progress = progressFor(io.stdout, flags.quiet ?? false);
      const options: CopyOptions = {
        ...base,
        ...(policy !== undefined ? { policy } : {}),
        ...(await signingFromFlags(flags, io.env)),
        destCtx: {
          ...base.destCtx,
          ...(additionalTags.length > 0 ? { dockerArchiveAdditionalTags: additionalTags } : {}),
        },
        multiArch: parseMultiArch(flags['multi-arch'], flags.all ?? false),
        ...(progress !== undefined ? { progress } : {}),
        ...(deps.extraOptions !== undefined ? await deps.extraOptions(io) : {}),
      };
      try {
        const result = await withGcPacing(() => copyImage(dest, src, options));
        if (flags.digestfile !== undefined) await writeFile(flags.digestfile, result.manifestDigest);
        return 0;
      } finally {
        await deps.cleanup?.();
      }
    },
  };
}
