// `portcullis attest`: cosign's `attest` with a key. The predicate file becomes an in-toto
// statement about the image's digest as `cosign attest --type` makes it, signed in a DSSE envelope
// by a cosign private key, and attached where cosign puts it: cosign's `sha256-<hex>.att`
// attachment by default (cosign v2's layout, which `cosign verify-attestation` of v2 and v3
// both read), or with --bundle a sigstore bundle as an OCI 1.1 referrer (cosign v3's default).
// No transparency log: verify with `--insecure-ignore-tlog=true`, or a policy with keys only.
import { attachAttestation } from '../image/copy/index.ts';
import { manifestDigest } from '../image/manifest/index.ts';
import { buildStatement, predicateTypeOf } from '../image/signature/attestation/index.ts';
import { loadSigstoreSigner } from '../image/signature/sigstore/index.ts';
import { closeAllAgents } from '../image/transports/docker/session.ts';
import { CliError, type FlagSpecs, formatFlags, parseArgs } from './args.ts';
import type { Command, Io, TransportsFor } from './command.ts';
import { globalFlags, registryFlags, systemContextFrom } from './flags.ts';
import { readInputFile, readPassphraseFile } from './inputs.ts';

const flags = {
  key: { type: 'string', metavar: 'FILE', help: 'cosign private key to sign with (required)' },
  predicate: { type: 'string', metavar: 'FILE', help: 'the predicate (required)' },
  type: {
    type: 'string',
    metavar: 'TYPE',
    help: 'slsaprovenance|slsaprovenance02|slsaprovenance1|link|spdx|spdxjson|cyclonedx|vuln|openvex|custom, or a predicate type URI (default custom)',
  },
  bundle: {
    type: 'boolean',
    help: "attach a sigstore bundle as an OCI 1.1 referrer (cosign v3's default) instead of the .att attachment",
  },
  'passphrase-file': {
    type: 'string',
    metavar: 'FILE',
    help: 'passphrase of the key (default: $COSIGN_PASSWORD, else none)',
  },
  ...registryFlags,
  ...globalFlags,
} as const satisfies FlagSpecs;

const NAMED_TRANSPORT =
  /^(?:docker:\/\/|oci:|oci-archive:|dir:|docker-archive:|docker-daemon:|containers-storage:|tarball:|sif:)/;

/** A predicate file larger than this is refused (Portcullis reads statements up to 16 MiB). */
const MAX_PREDICATE_BYTES = 16 << 20;

export function attestCommand(transports: TransportsFor): Command {
  return {
    usage: `Usage: portcullis attest --key FILE --predicate FILE [--type TYPE] [FLAGS] IMAGE-NAME\n\nAttach a signed in-toto attestation to IMAGE-NAME, as cosign attest does (no transparency log).\nA name without a transport is a docker:// reference.\n\nFlags:\n${formatFlags(flags)}\n`,
    async run(argv: readonly string[], io: Io): Promise<number> {
      const { flags: f, positionals } = parseArgs(argv, flags);
      if (positionals.length !== 1) throw new CliError('USAGE', 'exactly one argument expected');
      if (f.key === undefined || f.predicate === undefined)
        throw new CliError('USAGE', '--key and --predicate are required');
      const type = f.type ?? 'custom';
      let predicateType: string;
      try {
        predicateType = predicateTypeOf(type);
      } catch (err) {
        throw new CliError('USAGE', (err as Error).message, { cause: err });
      }
      const predicate = await readInputFile(f.predicate, 'predicate');
      if (predicate.byteLength > MAX_PREDICATE_BYTES)
        throw new CliError('FAILED', `predicate ${f.predicate}: larger than ${MAX_PREDICATE_BYTES} bytes`);
      const passphrase =
        f['passphrase-file'] !== undefined
          ? await readPassphraseFile(f['passphrase-file'])
          : (io.env.COSIGN_PASSWORD ?? '');
      const pem = new TextDecoder().decode(await readInputFile(f.key, 'private key'));
      const signer = await loadSigstoreSigner(pem, new TextEncoder().encode(passphrase));
      const name = positionals[0]!;
      // cosign takes bare references; a transport prefix is accepted too.
      const imageName = NAMED_TRANSPORT.test(name) ? name : `docker://${name}`;
      const ref = (await transports([imageName])).parseImageName(imageName);
      const repository = ref.dockerReference()?.name();
      if (repository === undefined)
        throw new CliError(
          'USAGE',
          `${name}: attestations name a repository; expected a docker:// reference`,
        );
      const ctx = systemContextFrom(f, io.env);
      const src = await ref.newImageSource(ctx);
      try {
        const { manifest, mimeType } = await src.getManifest();
        const digest = manifestDigest(manifest);
        const statement = buildStatement(type, predicate, { repository, digest }, new Date());
        const dest = await ref.newImageDestination(ctx);
        try {
          const subject = { sourceDigest: digest, digest, mediaType: mimeType, size: manifest.byteLength };
          await attachAttestation(
            dest,
            subject,
            f.bundle === true
              ? { format: 'bundle', bundle: signer.bundleStatement(statement), predicateType }
              : { format: 'att', envelope: signer.signStatement(statement), predicateType },
          );
          await dest.commit();
        } finally {
          await dest.close();
        }
        io.stdout.write(
          `attested ${repository}@${digest}: ${predicateType} (${f.bundle === true ? 'sigstore bundle referrer' : `tag ${digest.replace(':', '-')}.att`})\n`,
        );
        return 0;
      } finally {
        await src.close();
        await closeAllAgents();
      }
    },
  };
}
