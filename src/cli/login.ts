import {
  checkDockerLogin,
  closeAllAgents,
  DockerTransport,
  defaultAuthFilePath,
  type ImageTransport,
  removeCredentials,
  storeCredentials,
  storedUsername,
} from '../image/index.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io } from './command.ts';
import { globalFlags, systemContextFrom } from './flags.ts';

const MAX_PASSWORD_STDIN = 64 << 10;

/** `docker.io`, `quay.io/ns` … from what users type (schemes and trailing slashes dropped). */
function registryKey(arg: string): string {
  const key = arg.replace(/^(?:https?|docker):\/\//, '').replace(/\/+$/, '');
  if (key === '' || /\s/.test(key)) throw new CliError('USAGE', `invalid registry ${JSON.stringify(arg)}`);
  return key === 'index.docker.io' || key === 'registry-1.docker.io' ? 'docker.io' : key;
}

async function readPassword(io: Io): Promise<string> {
  let data = '';
  for await (const chunk of io.stdin) {
    data += chunk.toString();
    if (data.length > MAX_PASSWORD_STDIN) throw new CliError('FAILED', 'password on stdin is too long');
  }
  return data.replace(/\r?\n$/, '');
}

const loginFlags = {
  username: { type: 'string', short: 'u', metavar: 'USERNAME', help: 'username for the registry' },
  password: { type: 'string', short: 'p', metavar: 'PASSWORD', help: 'password for the registry' },
  'password-stdin': { type: 'boolean', help: 'take the password from stdin' },
  'get-login': { type: 'boolean', help: 'print the username stored for the registry' },
  authfile: { type: 'string', metavar: 'PATH', help: 'path of the authentication file' },
  'tls-verify': { type: 'boolean', help: 'require HTTPS and verify certificates (default true)' },
  'cert-dir': { type: 'string', metavar: 'PATH', help: 'use certificates at PATH' },
  ...globalFlags,
} as const;

/** `login REGISTRY`: checks the credentials against the registry, then stores them. */
export function loginCommand(transports: readonly ImageTransport[]): Command {
  return {
    usage: `Usage: portcullis login [FLAGS] REGISTRY\n\nCheck credentials for REGISTRY and store them in the authentication file.\n\nFlags:\n${formatFlags(loginFlags)}\n`,
    async run(argv: readonly string[], io: Io): Promise<number> {
      const { flags: f, positionals } = parseArgs(argv, loginFlags);
      if (positionals.length !== 1) throw new CliError('USAGE', 'exactly one registry expected');
      const key = registryKey(positionals[0]!);
      const authFile = defaultAuthFilePath({ env: io.env }, f.authfile);
      if (f['get-login'] === true) {
        const user = await storedUsername(authFile, key);
        if (user === undefined) throw new CliError('FAILED', `not logged into ${key}`);
        io.stdout.write(`${user}\n`);
        return 0;
      }
      if (f.username === undefined)
        throw new CliError('USAGE', '--username is required (there is no prompt)');
      if (f['password-stdin'] === true && f.password !== undefined) {
        throw new CliError('USAGE', '--password and --password-stdin are mutually exclusive');
      }
      const password = f['password-stdin'] === true ? await readPassword(io) : f.password;
      if (password === undefined)
        throw new CliError('USAGE', '--password or --password-stdin is required (there is no prompt)');
      const docker = transports.find((t): t is DockerTransport => t instanceof DockerTransport);
      if (docker === undefined) throw new CliError('FAILED', 'the docker transport is not available');
      const ctx = {
        ...systemContextFrom(
          { ...f, creds: undefined, 'registry-token': undefined, 'no-creds': undefined },
          io.env,
        ),
        credentials: { username: f.username, password },
      };
      try {
        await checkDockerLogin(docker, key.split('/', 1)[0]!, ctx);
      } finally {
        await closeAllAgents();
      }
      await storeCredentials(authFile, key, f.username, password);
      io.stdout.write('Login Succeeded!\n');
      return 0;
    },
  };
}

const logoutFlags = {
  authfile: { type: 'string', metavar: 'PATH', help: 'path of the authentication file' },
  all: { type: 'boolean', short: 'a', help: 'remove the credentials of every registry' },
} as const;

/** `logout REGISTRY | --all`. */
export const logoutCommand: Command = {
  usage: `Usage: portcullis logout [FLAGS] REGISTRY\n\nRemove the stored credentials of REGISTRY.\n\nFlags:\n${formatFlags(logoutFlags)}\n`,
  async run(argv: readonly string[], io: Io): Promise<number> {
    const { flags: f, positionals } = parseArgs(argv, logoutFlags);
    const authFile = defaultAuthFilePath({ env: io.env }, f.authfile);
    if (f.all === true) {
      if (positionals.length !== 0) throw new CliError('USAGE', '--all takes no registry');
      await removeCredentials(authFile, undefined);
      io.stdout.write('Removed login credentials for all registries\n');
      return 0;
    }
    if (positionals.length !== 1) throw new CliError('USAGE', 'exactly one registry expected');
    const key = registryKey(positionals[0]!);
    if (!(await removeCredentials(authFile, key))) throw new CliError('FAILED', `not logged into ${key}`);
    io.stdout.write(`Removed login credentials for ${key}\n`);
    return 0;
  },
};
