// The registry flags shared by skopeo-style commands, and their translation into a SystemContext.
import type { SystemContext } from '../image/types.ts';
import { CliError, type FlagSpecs, type FlagValues } from './args.ts';

export const registryFlags = {
  'tls-verify': { type: 'boolean', help: 'require HTTPS and verify certificates (default true)' },
  'cert-dir': { type: 'string', metavar: 'PATH', help: 'use certificates (*.crt, *.cert, *.key) at PATH' },
  creds: { type: 'string', metavar: 'USERNAME[:PASSWORD]', help: 'credentials for the registry' },
  username: { type: 'string', metavar: 'USERNAME', help: 'username for the registry' },
  password: { type: 'string', metavar: 'PASSWORD', help: 'password for the registry' },
  'registry-token': { type: 'string', metavar: 'TOKEN', help: 'a bearer token for the registry' },
  'no-creds': { type: 'boolean', help: 'access the registry anonymously' },
  authfile: { type: 'string', metavar: 'PATH', help: 'path of the authentication file' },
} as const satisfies FlagSpecs;

export const globalFlags = {
  'registries-conf': { type: 'string', metavar: 'PATH', help: 'use registries.conf at PATH' },
  'registries.d': { type: 'string', metavar: 'DIR', help: 'use registry configuration files in DIR' },
  'override-os': {
    type: 'string',
    metavar: 'OS',
    help: 'use OS instead of the running OS for choosing images',
  },
  'override-arch': {
    type: 'string',
    metavar: 'ARCH',
    help: 'use ARCH instead of the architecture of the machine',
  },
  'override-variant': {
    type: 'string',
    metavar: 'VARIANT',
    help: 'use VARIANT instead of the running architecture variant',
  },
} as const satisfies FlagSpecs;

type RegistryFlagValues = FlagValues<typeof registryFlags> & FlagValues<typeof globalFlags>;

/** `user:pass` (a missing password is an error: there is no prompt). */
function parseCreds(creds: string): { username: string; password: string } {
  const colon = creds.indexOf(':');
  if (colon <= 0) throw new CliError('USAGE', '--creds: expected USERNAME:PASSWORD');
  return { username: creds.slice(0, colon), password: creds.slice(colon + 1) };
}

/** Builds the SystemContext from the flags; conflicting credential flags are usage errors. */
export function systemContextFrom(
  flags: RegistryFlagValues,
  env: Readonly<Record<string, string | undefined>>,
): SystemContext {
  const sources = [
    flags.creds !== undefined,
    flags.username !== undefined || flags.password !== undefined,
    flags['registry-token'] !== undefined,
    flags['no-creds'] === true,
  ].filter(Boolean).length;
  if (sources > 1)
    throw new CliError(
      'USAGE',
      '--creds, --username/--password, --registry-token and --no-creds are mutually exclusive',
    );
  let credentials: { username: string; password: string } | undefined;
  if (flags.creds !== undefined) credentials = parseCreds(flags.creds);
  else if (flags.username !== undefined || flags.password !== undefined) {
    if (flags.username === undefined || flags.password === undefined)
      throw new CliError('USAGE', '--username and --password must be given together');
    credentials = { username: flags.username, password: flags.password };
  }
  const platform = {
    ...(flags['override-os'] !== undefined ? { os: flags['override-os'] } : {}),
    ...(flags['override-arch'] !== undefined ? { architecture: flags['override-arch'] } : {}),
    ...(flags['override-variant'] !== undefined ? { variant: flags['override-variant'] } : {}),
  };
  const authFile = flags.authfile ?? env.REGISTRY_AUTH_FILE;
  return {
    ...(credentials !== undefined ? { credentials } : {}),
    ...(flags['registry-token'] !== undefined ? { registryToken: flags['registry-token'] } : {}),
    ...(flags['no-creds'] === true ? { noCredentials: true } : {}),
    ...(authFile !== undefined ? { authFilePath: authFile } : {}),
    ...(flags['tls-verify'] !== undefined ? { tlsVerify: flags['tls-verify'] } : {}),
    ...(flags['cert-dir'] !== undefined ? { certDir: flags['cert-dir'] } : {}),
    ...(flags['registries-conf'] !== undefined ? { registriesConfPath: flags['registries-conf'] } : {}),
    ...(flags['registries.d'] !== undefined ? { registriesDirPath: flags['registries.d'] } : {}),
    ...(Object.keys(platform).length > 0 ? { platform } : {}),
    userAgent: 'portcullis/0.1.0',
  };
}

/** skopeo prints JSON with four-space indentation and a final newline. */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 4)}\n`;
}
