// Flags shared by `copy` and `sync`: per-endpoint credentials/TLS (skopeo's --src-*/--dest-*) and
// the copy engine's knobs, resolved once into SystemContexts and CopyOptions.
import type { CompressionFormat, CopyOptions, MultiArch } from '../image/copy/index.ts';
import type { Credentials, SystemContext } from '../image/index.ts';
import { CliError, type FlagSpec } from './args.ts';

type Endpoint = 'src' | 'dest';

function endpointSpecs<P extends Endpoint>(p: P, what: string) {
  return {
    [`${p}-creds`]: {
      type: 'string',
      metavar: 'USERNAME[:PASSWORD]',
      help: `credentials for the ${what} registry`,
    },
    [`${p}-username`]: { type: 'string', help: `username for the ${what} registry` },
    [`${p}-password`]: { type: 'string', help: `password for the ${what} registry` },
    [`${p}-registry-token`]: {
      type: 'string',
      metavar: 'TOKEN',
      help: `bearer token for the ${what} registry`,
    },
    [`${p}-no-creds`]: { type: 'boolean', help: `access the ${what} registry anonymously` },
    [`${p}-authfile`]: { type: 'string', metavar: 'PATH', help: `auth.json for the ${what} registry` },
    [`${p}-cert-dir`]: {
      type: 'string',
      metavar: 'PATH',
      help: `certificates (*.crt, *.cert, *.key) for the ${what} registry`,
    },
    [`${p}-tls-verify`]: {
      type: 'boolean',
      help: `require HTTPS and verify certificates for the ${what} registry (default true)`,
    },
    [`${p}-shared-blob-dir`]: {
      type: 'string',
      metavar: 'DIR',
      help: `blob directory shared between OCI layouts (${what})`,
    },
  } as Record<`${P}-${string}`, FlagSpec>;
}

export const transferFlagSpecs = {
  ...endpointSpecs('src', 'source'),
  ...endpointSpecs('dest', 'destination'),
  authfile: { type: 'string', metavar: 'PATH', help: 'auth.json for both registries' },
  'registries.d': {
    type: 'string',
    metavar: 'DIR',
    help: 'registries.d directory (where signatures are read and written)',
  },
  'registries-conf': { type: 'string', metavar: 'FILE', help: 'registries.conf (mirrors, rewrites)' },
  'remove-signatures': { type: 'boolean', help: 'do not copy signatures' },
  'preserve-digests': { type: 'boolean', help: 'fail instead of changing any manifest digest' },
  format: { type: 'string', short: 'f', metavar: 'oci|v2s2', help: 'manifest type to write' },
  'dest-compress-format': {
    type: 'string',
    metavar: 'gzip|zstd',
    help: 'compression for layers that get compressed',
  },
  'dest-compress-level': { type: 'string', metavar: 'N', help: 'compression level' },
  'dest-oci-accept-uncompressed-layers': {
    type: 'boolean',
    help: 'let oci: destinations keep uncompressed layers',
  },
  'dest-compress': { type: 'boolean', help: 'compress layers when writing to dir:' },
  'dest-decompress': { type: 'boolean', help: 'decompress layers when writing to dir:' },
  'image-parallel-copies': { type: 'string', metavar: 'N', help: 'blobs copied at once (default 6)' },
  'retry-times': { type: 'string', metavar: 'N', help: 'retries after a temporary failure (default 0)' },
  'retry-delay': {
    type: 'string',
    metavar: 'DURATION',
    help: 'fixed delay between retries, e.g. 2s (default exponential)',
  },
  'override-os': { type: 'string', metavar: 'OS', help: 'OS to choose from multi-arch images' },
  'override-arch': { type: 'string', metavar: 'ARCH', help: 'architecture to choose from multi-arch images' },
  'override-variant': {
    type: 'string',
    metavar: 'VARIANT',
    help: 'variant to choose from multi-arch images',
  },
  tmpdir: { type: 'string', metavar: 'DIR', help: 'directory for temporary files' },
  quiet: { type: 'boolean', short: 'q', help: 'print nothing while copying' },
} as const satisfies Record<string, FlagSpec>;

type Flags = Readonly<Record<string, string | boolean | string[] | undefined>>;

function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

function bool(flags: Flags, name: string): boolean | undefined {
  const v = flags[name];
  return typeof v === 'boolean' ? v : undefined;
}

export function parseCount(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new CliError(
      'USAGE',
      `invalid value ${JSON.stringify(value)} for --${name}: expected an integer >= ${min}`,
    );
  }
  return Number(value);
}

/** Go-style durations as skopeo takes them: 500ms, 2s, 1m30s. */
export function parseDuration(name: string, value: string): number {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) {
    throw new CliError(
      'USAGE',
      `invalid value ${JSON.stringify(value)} for --${name}: expected a duration such as 2s`,
    );
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * unit[p[2]!]!, 0);
}

function credentials(flags: Flags, p: Endpoint): Credentials | undefined {
  const creds = str(flags, `${p}-creds`);
  const username = str(flags, `${p}-username`);
  const password = str(flags, `${p}-password`);
  if (creds !== undefined && (username !== undefined || password !== undefined)) {
    throw new CliError('USAGE', `--${p}-creds and --${p}-username/--${p}-password cannot be used together`);
  }
  if (creds !== undefined) {
    if (creds === '') throw new CliError('USAGE', `--${p}-creds: credentials can't be empty`);
    const colon = creds.indexOf(':');
    return colon < 0
      ? { username: creds, password: '' }
      : { username: creds.slice(0, colon), password: creds.slice(colon + 1) };
  }
  if (username !== undefined) return { username, password: password ?? '' };
  if (password !== undefined) throw new CliError('USAGE', `--${p}-password needs --${p}-username`);
  return undefined;
}

/** The SystemContext of one end of a copy, from its src- or dest- prefixed flags. */
export function endpointContext(flags: Flags, p: Endpoint): SystemContext {
  const creds = credentials(flags, p);
  const noCreds = bool(flags, `${p}-no-creds`) ?? false;
  if (noCreds && (creds !== undefined || str(flags, `${p}-registry-token`) !== undefined)) {
    throw new CliError('USAGE', `--${p}-no-creds cannot be used with --${p}-creds or --${p}-registry-token`);
  }
  const os = str(flags, 'override-os');
  const architecture = str(flags, 'override-arch');
  const variant = str(flags, 'override-variant');
  const authfile = str(flags, `${p}-authfile`) ?? str(flags, 'authfile');
  const token = str(flags, `${p}-registry-token`);
  const certDir = str(flags, `${p}-cert-dir`);
  const tlsVerify = bool(flags, `${p}-tls-verify`);
  const shared = str(flags, `${p}-shared-blob-dir`);
  const tmpDir = str(flags, 'tmpdir');
  const registriesD = str(flags, 'registries.d');
  const registriesConf = str(flags, 'registries-conf');
  return {
    ...(registriesD !== undefined ? { registriesDirPath: registriesD } : {}),
    ...(registriesConf !== undefined ? { registriesConfPath: registriesConf } : {}),
    ...(authfile !== undefined ? { authFilePath: authfile } : {}),
    ...(creds !== undefined ? { credentials: creds } : {}),
    ...(token !== undefined ? { registryToken: token } : {}),
    ...(noCreds ? { noCredentials: true } : {}),
    ...(tlsVerify !== undefined ? { tlsVerify } : {}),
    ...(certDir !== undefined ? { certDir } : {}),
    ...(shared !== undefined ? { ociSharedBlobDir: shared } : {}),
    ...(tmpDir !== undefined ? { tmpDir } : {}),
    ...(os !== undefined || architecture !== undefined || variant !== undefined
      ? {
          platform: {
            ...(os !== undefined ? { os } : {}),
            ...(architecture !== undefined ? { architecture } : {}),
            ...(variant !== undefined ? { variant } : {}),
          },
        }
      : {}),
    ...(p === 'dest' && bool(flags, 'dest-compress') ? { dirForceCompress: true } : {}),
    ...(p === 'dest' && bool(flags, 'dest-decompress') ? { dirForceDecompress: true } : {}),
    ...(p === 'dest' && bool(flags, 'dest-oci-accept-uncompressed-layers')
      ? { ociAcceptUncompressedLayers: true }
      : {}),
  };
}

const formats: Record<string, string> = {
  oci: 'application/vnd.oci.image.manifest.v1+json',
  v2s2: 'application/vnd.docker.distribution.manifest.v2+json',
};

export function parseMultiArch(value: string | undefined, all: boolean): MultiArch {
  if (value === undefined) return all ? 'all' : 'system';
  if (all) throw new CliError('USAGE', 'cannot use --all and --multi-arch together');
  if (value === 'system' || value === 'all' || value === 'index-only') return value;
  throw new CliError(
    'USAGE',
    `unknown --multi-arch value ${JSON.stringify(value)}: expected system, all or index-only`,
  );
}

/** CopyOptions (without progress, policy, signers) from the shared flags. */
export function copyOptionsFromFlags(flags: Flags): CopyOptions {
  const format = str(flags, 'format');
  if (format !== undefined && !Object.hasOwn(formats, format)) {
    throw new CliError(
      'USAGE',
      `unknown --format ${JSON.stringify(format)}: expected oci or v2s2 (v2s1 is not supported)`,
    );
  }
  const compression = str(flags, 'dest-compress-format');
  if (compression !== undefined && compression !== 'gzip' && compression !== 'zstd') {
    throw new CliError(
      'USAGE',
      `unknown --dest-compress-format ${JSON.stringify(compression)}: expected gzip or zstd`,
    );
  }
  const level = str(flags, 'dest-compress-level');
  const retryDelay = str(flags, 'retry-delay');
  return {
    sourceCtx: endpointContext(flags, 'src'),
    destCtx: endpointContext(flags, 'dest'),
    removeSignatures: bool(flags, 'remove-signatures') ?? false,
    preserveDigests: bool(flags, 'preserve-digests') ?? false,
    ...(format !== undefined ? { forceManifestMIMEType: formats[format]! } : {}),
    ...(compression !== undefined ? { compressionFormat: compression as CompressionFormat } : {}),
    ...(level !== undefined ? { compressionLevel: parseCount('dest-compress-level', level, 0) } : {}),
    parallelCopies: parseCount('image-parallel-copies', str(flags, 'image-parallel-copies'), 6, 1),
    retryTimes: parseCount('retry-times', str(flags, 'retry-times'), 0),
    ...(retryDelay !== undefined ? { retryDelayMs: parseDuration('retry-delay', retryDelay) } : {}),
  };
}
