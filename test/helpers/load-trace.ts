// Preloaded with `--import` by start-up tests: records the URL of every module the process loads
// and writes them, one a line, to the file PORTCULLIS_LOAD_TRACE names when it exits, after a line
// of JSON: its Node flags, and V8's code-cache tag (it hashes V8's flags) at start and at exit.
import { writeFileSync } from 'node:fs';
import module from 'node:module';
import { cachedDataVersionTag } from 'node:v8';

const out = process.env.PORTCULLIS_LOAD_TRACE;
if (out !== undefined) {
  const loaded: string[] = [];
  const tagAtStart = cachedDataVersionTag();
  module.registerHooks({
    load(url, context, nextLoad) {
      loaded.push(url);
      return nextLoad(url, context);
    },
  });
  process.on('exit', () => {
    const head = { flags: process.execArgv, tagAtStart, tagAtExit: cachedDataVersionTag() };
    writeFileSync(out, [JSON.stringify(head), ...loaded].join('\n'));
  });
}
