// Deep imports, not the image barrel: inspect loads only the transport IMAGE-NAME uses (and
// the docker tag listing only for docker://).
import {
  goMarshalIndent,
  imageInspectInfo,
  manifestDigest,
  ociConfigFromConfig,
  ociConfigFromSchema1,
  skopeoInspectOutput,
} from '../image/manifest/index.ts';
import { closeAllAgents } from '../image/transports/docker/session.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io, TransportsFor } from './command.ts';
import { globalFlags, registryFlags, systemContextFrom } from './flags.ts';
import { resolveImage } from './image-config.ts';

const flags = {
  raw: { type: 'boolean', help: 'output the raw manifest or config' },
  config: { type: 'boolean', help: 'output the configuration instead of the manifest' },
  'no-tags': { type: 'boolean', short: 'n', help: 'do not list the repository tags' },
  format: {
    type: 'string',
    short: 'f',
    metavar: 'TEMPLATE',
    help: 'format the output with a Go template subset: {{.Field}}, {{json .Field}}',
  },
  ...registryFlags,
  ...globalFlags,
} as const;

/** What skopeo prints with json.MarshalIndent: 4-space indent, HTML characters escaped. */
function goJson(value: unknown): string {
  return `${goMarshalIndent(value, '    ')}\n`;
}

/**
 * The part of Go's text/template that scripts use with `skopeo inspect --format`: `{{.Field}}`
 * and `{{json .Field}}`. Anything else is a usage error rather than a wrong answer.
 */
export function renderTemplate(template: string, data: Readonly<Record<string, unknown>>): string {
  return template.replace(
    /\{\{\s*(json\s+)?\.([A-Za-z]+)\s*\}\}|\{\{[^}]*\}\}/g,
    (whole, json: string | undefined, field: string | undefined) => {
      if (field === undefined) throw new CliError('USAGE', `--format: unsupported template action ${whole}`);
      if (!Object.hasOwn(data, field))
        throw new CliError('USAGE', `--format: unknown field ${JSON.stringify(field)}`);
      const value = data[field];
      if (json !== undefined) return JSON.stringify(value);
      if (value === null || value === undefined) return '<no value>';
      if (Array.isArray(value)) return `[${value.join(' ')}]`;
      if (typeof value === 'object') {
        const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
          a < b ? -1 : a > b ? 1 : 0,
        );
        return `map[${entries.map(([k, v]) => `${k}:${String(v)}`).join(' ')}]`;
      }
      return String(value);
    },
  );
}

/** `inspect`: skopeo's output fields, in skopeo's order. */
export function inspectCommand(transports: TransportsFor): Command {
  return {
    usage: `Usage: portcullis inspect [FLAGS] IMAGE-NAME\n\nReturn low-level information about IMAGE-NAME in a registry or another transport.\n\nFlags:\n${formatFlags(flags)}\n`,
    async run(argv: readonly string[], io: Io): Promise<number> {
      const { flags: f, positionals } = parseArgs(argv, flags);
      if (positionals.length !== 1) throw new CliError('USAGE', 'exactly one argument expected');
      const ctx = systemContextFrom(f, io.env);
      const ref = (await transports(positionals)).parseImageName(positionals[0]!);
      const src = await ref.newImageSource(ctx);
      try {
        if (f.raw === true && f.config !== true) {
          io.stdout.write(Buffer.from((await src.getManifest()).manifest));
          return 0;
        }
        const image = await resolveImage(src, ctx);
        if (f.config === true) {
          if (f.raw === true) {
            // A schema1 image has no config blob: skopeo prints nothing, and so do we.
            if (image.config !== undefined) io.stdout.write(Buffer.from(image.config));
            return 0;
          }
          // skopeo prints the config as OCI (Docker-only fields dropped), schema1 history included.
          let oci: Uint8Array;
          if (image.manifest.kind === 'schema1') oci = ociConfigFromSchema1(image.manifest);
          else if (image.config !== undefined) oci = ociConfigFromConfig(image.config);
          else throw new CliError('FAILED', 'inspect --config: the image has no config');
          io.stdout.write(goJson(JSON.parse(Buffer.from(oci).toString('utf8'))));
          return 0;
        }
        const info = imageInspectInfo(image.manifest, image.config);
        const tags =
          ref.transport.name === 'docker' && f['no-tags'] !== true
            ? (await (await import('../image/transports/docker/api.ts')).listDockerTags(ref, ctx)).tags
            : [];
        const name = ref.dockerReference()?.name();
        const out = skopeoInspectOutput(
          {
            ...(name !== undefined ? { name } : {}),
            digest: manifestDigest(image.top.manifest),
            repoTags: tags,
          },
          info,
        );
        io.stdout.write(f.format === undefined ? goJson(out) : `${renderTemplate(f.format, out)}\n`);
        return 0;
      } finally {
        await src.close();
        await closeAllAgents();
      }
    },
  };
}
