import {
  closeAllAgents,
  type ImageTransport,
  listDockerTags,
  parseNormalizedNamed,
  TransportRegistry,
} from '../image/index.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io } from './command.ts';
import { formatJson, globalFlags, registryFlags, systemContextFrom } from './flags.ts';

const flags = { ...registryFlags, ...globalFlags } as const;

/** `list-tags docker://REPOSITORY`: `{Repository, Tags}` as skopeo prints it. */
export function listTagsCommand(transports: readonly ImageTransport[]): Command {
  const registry = new TransportRegistry(transports);
  return {
    usage: `Usage: portcullis list-tags [FLAGS] docker://REPOSITORY\n\nList the tags of a repository.\n\nFlags:\n${formatFlags(flags)}\n`,
    async run(argv: readonly string[], io: Io): Promise<number> {
      const { flags: f, positionals } = parseArgs(argv, flags);
      if (positionals.length !== 1) throw new CliError('USAGE', 'exactly one argument expected');
      const name = positionals[0]!;
      if (!name.startsWith('docker://')) {
        throw new CliError(
          'USAGE',
          `invalid repository ${JSON.stringify(name)}: only docker:// repositories are supported`,
        );
      }
      const repo = parseNormalizedNamed(name.slice('docker://'.length));
      if (!repo.isNameOnly())
        throw new CliError('USAGE', `invalid repository ${JSON.stringify(name)}: no tag or digest allowed`);
      const ctx = systemContextFrom(f, io.env);
      try {
        const { repository, tags } = await listDockerTags(
          registry.parseImageName(`docker://${repo.name()}`),
          ctx,
        );
        io.stdout.write(formatJson({ Repository: repository, Tags: tags }));
        return 0;
      } finally {
        await closeAllAgents();
      }
    },
  };
}
