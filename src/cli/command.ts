/** Where a command writes; injected so tests capture output without touching the process. */
export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Full usage text for `portcullis <name> --help`. */
  readonly usage: string;
  /** Runs the command; returns the process exit code. Throws CliError for usage and failures. */
  run(argv: readonly string[], io: Io): Promise<number>;
}
