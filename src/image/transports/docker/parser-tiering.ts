// Whether undici's HTTP parser may be tiered up by V8: held for short-lived processes (the CLI).
import { setFlagsFromString } from 'node:v8';

// undici parses HTTP/1 with WebAssembly (one parser instance per process). After a few responses V8
// re-compiles its large parse function with the optimising tier on a background thread, and a
// process cannot exit while that compile runs: ~40 ms, longer than a whole `inspect`. A process
// that says it is short-lived has the parser instantiated with a tier-up budget it never spends
// (V8 reads the budget at instantiation), and then gets V8's default back: the flag hash is part of
// every code cache check, so leaving it changed would make Node compile every module loaded later
// from scratch. A user who sets the budget on the command line keeps it.
const V8_DEFAULT_WASM_TIERING_BUDGET = 13_000_000;
let parserTiering: 'optimise' | 'hold' | 'held' = 'optimise';

/**
 * Tells the HTTP layer the process exits after a handful of requests (a CLI command, not a
 * server), so undici's parser is never handed to V8's optimising compiler.
 */
export function expectShortLife(): void {
  const own = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) =>
    a.includes('wasm-tiering-budget'),
  );
  if (parserTiering === 'optimise' && !own) parserTiering = 'hold';
}

/** Before a request: true when the parser is to be instantiated with a budget it never spends. */
export function holdParserTierUp(): boolean {
  if (parserTiering !== 'hold') return false;
  setFlagsFromString('--wasm-tiering-budget=2147483647');
  return true;
}

/** After a response the parser exists, with its budget; V8's flags go back to their default. */
export function releaseParserTierUp(answered: boolean): void {
  setFlagsFromString(`--wasm-tiering-budget=${V8_DEFAULT_WASM_TIERING_BUDGET}`);
  if (answered) parserTiering = 'held';
}
