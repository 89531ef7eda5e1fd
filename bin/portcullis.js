#!/usr/bin/env -S node --liftoff-only
// --liftoff-only: undici's HTTP parser is WebAssembly, and after a few responses V8 starts
// optimising its large parse function on a background thread; that takes longer than a whole
// `inspect` and the process cannot exit until it is done (~25 ms CPU and ~40-60 ms at exit).
// Node takes V8 flags only from its command line, hence the shebang (v8.setFlagsFromString() at
// run time measured no effect), and the image's ENTRYPOINT.
// Entry point: a source checkout runs src/ through Node's type stripping (so a stale build is
// never run by mistake); the published package and the image (which ship no src/) run the bundle
// that `npm run build` writes to dist/cli/.
import { existsSync } from 'node:fs';
import module from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `portcullis: Node ${process.versions.node} is too old: Node 24 or newer is required ` +
      '(in a source checkout, `npm ci` installs it; run `npx portcullis`).',
  );
  process.exit(2);
}
// Caches compiled code between runs (a short-lived CLI spends most of its time loading modules);
// where the cache directory is not writable this quietly does nothing.
module.enableCompileCache?.();
const source = new URL('../src/cli/main.ts', import.meta.url);
const entry = existsSync(source) ? source : new URL('../dist/cli/main.js', import.meta.url);
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
// The command's work is done (main awaits all of it): exit now instead of waiting for idle
// keep-alive sockets and timers to lapse and for the heap to be torn down, which costs a
// short-lived CLI tens of ms. Only output still queued (a slow pipe) is waited for.
for (const stream of [process.stdout, process.stderr]) {
  if (stream.writableLength > 0) await new Promise((resolve) => stream.write('', resolve));
}
process.exit(code);
