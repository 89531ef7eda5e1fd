// Composition root of the CLI: the only place that knows every command.
import { enableCompileCache } from 'node:module';
import { allTransports, BaseError, sigstoreVerifier, TransportRegistry } from '../image/index.ts';
import { defaultTransportRegistry } from '../image/transports/all.ts';
import { CliError } from './args.ts';
import type { Command, Io } from './command.ts';
import { copyCommand } from './copy.ts';
import { deleteCommand } from './delete.ts';
import { generateSigstoreKeyCommand } from './generate-sigstore-key.ts';
import { inspectCommand } from './inspect.ts';
import { listTagsCommand } from './list-tags.ts';
import { loginCommand, logoutCommand } from './login.ts';
import { manifestDigestCommand } from './manifest-digest.ts';
import { type PolicyCommandDeps, policyCommand } from './policy.ts';
import { closeAllAgents, listRepositoryTags, probeRegistryDestination } from './registry-support.ts';
import { serveCommand } from './serve.ts';
import { standaloneSignCommand } from './standalone-sign.ts';
import { standaloneVerifyCommand } from './standalone-verify.ts';
import { syncCommand } from './sync.ts';

const transports = allTransports();

// V8's on-disk code cache: modules loaded lazily from here on (openpgp) start faster on later
// runs. A read-only file system just leaves it disabled.
enableCompileCache();

async function policyDeps(): Promise<PolicyCommandDeps> {
  return { transports: new TransportRegistry(transports), sigstore: sigstoreVerifier() };
}

const commands: readonly Command[] = [
  copyCommand({
    transports: defaultTransportRegistry,
    cleanup: closeAllAgents,
    sigstore: sigstoreVerifier(),
  }),
  syncCommand({
    transports: defaultTransportRegistry,
    sigstore: sigstoreVerifier(),
    listTags: listRepositoryTags,
    probeDestination: probeRegistryDestination,
    cleanup: closeAllAgents,
  }),
  inspectCommand(transports),
  listTagsCommand(transports),
  deleteCommand(transports),
  manifestDigestCommand,
  loginCommand(transports),
  logoutCommand,
  generateSigstoreKeyCommand,
  policyCommand(policyDeps),
  serveCommand,
  standaloneSignCommand,
  standaloneVerifyCommand,
];

function globalUsage(): string {
  const width = Math.max(0, ...commands.map((c) => c.name.length)) + 2;
  const list = commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n');
  return `portcullis: image trust for Kubernetes, and a skopeo-compatible image tool

Usage:
  portcullis COMMAND [FLAGS] [ARGS]

Commands:
${list}

Run 'portcullis COMMAND --help' for a command's flags.
`;
}

export async function main(argv: readonly string[], io: Io = process): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(globalUsage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    io.stdout.write('portcullis version 0.1.0\n');
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    io.stderr.write(
      `portcullis: unknown command ${JSON.stringify(name)}\nRun 'portcullis --help' for the list.\n`,
    );
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(command.usage);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof CliError && err.code === 'USAGE') {
      io.stderr.write(`portcullis ${name}: ${err.message}\nRun 'portcullis ${name} --help' for usage.\n`);
      return 2;
    }
    const message = err instanceof BaseError || err instanceof Error ? err.message : String(err);
    io.stderr.write(`portcullis ${name}: ${message}\n`);
    return 1;
  }
}
