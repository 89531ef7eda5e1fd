import { closeAllAgents, type ImageTransport, TransportRegistry } from '../image/index.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io } from './command.ts';
import { globalFlags, registryFlags, systemContextFrom } from './flags.ts';

const flags = { ...registryFlags, ...globalFlags } as const;

/** `delete IMAGE-NAME`: removes the manifest (by digest) and its lookaside signatures. */
export function deleteCommand(transports: readonly ImageTransport[]): Command {
  const registry = new TransportRegistry(transports);
  return {
    usage: `Usage: portcullis delete [FLAGS] IMAGE-NAME\n\nDelete an image from a registry (the manifest and every tag pointing at it).\n\nFlags:\n${formatFlags(flags)}\n`,
    async run(argv: readonly string[], io: Io): Promise<number> {
      const { flags: f, positionals } = parseArgs(argv, flags);
      if (positionals.length !== 1) throw new CliError('USAGE', 'exactly one argument expected');
      const ctx = systemContextFrom(f, io.env);
      try {
        await registry.parseImageName(positionals[0]!).deleteImage(ctx);
        return 0;
      } finally {
        await closeAllAgents();
      }
    },
  };
}
