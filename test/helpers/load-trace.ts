// Preloaded with `--import` by start-up tests: records the URL of every module the process loads
// and writes them, one a line after a line of its Node flags (JSON), to the file
// PORTCULLIS_LOAD_TRACE names when it exits.
import { writeFileSync } from 'node:fs';
import module from 'node:module';

const out = process.env.PORTCULLIS_LOAD_TRACE;
if (out !== undefined) {
  const loaded: string[] = [];
  module.registerHooks({
    load(url, context, nextLoad) {
      loaded.push(url);
      return nextLoad(url, context);
    },
  });
  process.on('exit', () => writeFileSync(out, [JSON.stringify(process.execArgv), ...loaded].join('\n')));
}
