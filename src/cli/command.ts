import type { TransportRegistry } from '../image/transports/registry.ts';

/** Where a command writes; injected so tests capture output without touching the process. */
export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A command's behaviour; its name and summary live in main.ts's table, which loads it on demand. */
export interface Command {
  /** Full usage text for `portcullis <name> --help`. */
  readonly usage: string;
  /** Runs the command; returns the process exit code. Throws CliError for usage and failures. */
  run(argv: readonly string[], io: Io): Promise<number>;
}

/** The transports `transport:details` image names need, imported on demand. */
export type TransportsFor = (imageNames: readonly string[]) => Promise<TransportRegistry>;
