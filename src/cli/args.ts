import { BaseError } from '../image/errors.ts';

export type CliErrorCode = 'USAGE' | 'FAILED';

/** USAGE errors exit 2 with a pointer to --help; FAILED errors exit 1. */
export class CliError extends BaseError<CliErrorCode> {}

export type FlagSpec =
  | { readonly type: 'boolean'; readonly short?: string; readonly help: string }
  | { readonly type: 'string'; readonly short?: string; readonly help: string; readonly metavar?: string }
  | { readonly type: 'list'; readonly short?: string; readonly help: string; readonly metavar?: string };

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export type FlagValues<S extends FlagSpecs> = {
  [K in keyof S]: S[K] extends { type: 'boolean' }
    ? boolean | undefined
    : S[K] extends { type: 'list' }
      ? string[]
      : string | undefined;
};

export interface Parsed<S extends FlagSpecs> {
  readonly flags: FlagValues<S>;
  readonly positionals: string[];
}

function parseBool(name: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new CliError('USAGE', `invalid value ${JSON.stringify(value)} for --${name}: expected true or false`);
}

/**
 * Parses skopeo-style arguments: `--name value`, `--name=value`, `--bool`, `--bool=false`,
 * `-x value`; `--` ends the flags. Unknown flags are usage errors.
 */
export function parseArgs<S extends FlagSpecs>(argv: readonly string[], specs: S): Parsed<S> {
  const flags: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) flags[name] = spec.type === 'list' ? [] : undefined;
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) byShort.set(spec.short, name);
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else if (arg.startsWith('-') && arg.length > 1) {
      name = byShort.get(arg.slice(1));
      if (name === undefined) throw new CliError('USAGE', `unknown flag ${arg}`);
    } else {
      positionals.push(arg);
      continue;
    }
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined && name === 'debug' && arg.startsWith('--')) {
      // The global --debug (main.ts) is accepted by every command, as skopeo's is.
      if (inline !== undefined) parseBool(name, inline);
      continue;
    }
    if (spec === undefined) throw new CliError('USAGE', `unknown flag --${name}`);
    if (spec.type === 'boolean') {
      flags[name] = inline === undefined ? true : parseBool(name, inline);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined) throw new CliError('USAGE', `flag --${name} needs a value`);
      i++;
    }
    if (spec.type === 'list') (flags[name] as string[]).push(value);
    else flags[name] = value;
  }
  return { flags: flags as FlagValues<S>, positionals };
}

/** Renders the flag table of a command's help. */
export function formatFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const meta = spec.type === 'boolean' ? '' : ` ${spec.metavar ?? 'VALUE'}`;
    const short = spec.short ? `-${spec.short}, ` : '    ';
    return [`  ${short}--${name}${meta}`, spec.help] as const;
  });
  const width = Math.max(0, ...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, help]) => left.padEnd(width) + help).join('\n');
}
