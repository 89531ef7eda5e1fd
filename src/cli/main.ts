// Composition root of the CLI: the only place that knows every command.
import { enableCompileCache } from 'node:module';
import { BaseError, TransportRegistry } from '../image/index.ts';
import { CliError } from './args.ts';
import type { Command, Io } from './command.ts';
import { generateSigstoreKeyCommand } from './generate-sigstore-key.ts';
import { type PolicyCommandDeps, policyCommand } from './policy.ts';
import { standaloneSignCommand } from './standalone-sign.ts';
import { standaloneVerifyCommand } from './standalone-verify.ts';

// V8's on-disk code cache: modules loaded lazily from here on (openpgp, transports) start about
// twice as fast on later runs. A read-only file system just leaves it disabled.
enableCompileCache();

// Every transport on main today, imported only when `policy eval` runs (start-up time).
async function policyDeps(): Promise<PolicyCommandDeps> {
  const [{ DockerTransport }, { sigstoreVerifier }] = await Promise.all([
    import('../image/transports/docker/index.ts'),
    import('../image/signature/sigstore-verifier.ts'),
  ]);
  return { transports: new TransportRegistry([new DockerTransport()]), sigstore: sigstoreVerifier() };
}

const commands: readonly Command[] = [
  generateSigstoreKeyCommand,
  policyCommand(policyDeps),
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
