#!/usr/bin/env node
// No V8 flag in the shebang: any flag makes Node compile its own modules without their embedded
// code cache (~25 ms of every start). What --liftoff-only used to do here, keep undici's parser
// out of V8's optimising tier so the exit need not wait for it, the HTTP layer now does at run
// time for every command but `serve` (expectShortLife() in src/image/transports/docker/http.ts).
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
