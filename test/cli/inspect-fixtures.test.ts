// `inspect --config` on upstream fixtures in dir: layouts, compared byte for byte with skopeo
// 1.9.3, which prints every config as OCI (Docker-only fields dropped, HTML characters escaped)
// and derives one from the history of schema1 images.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.ts';
import { conformancePath } from '../helpers/conformance.ts';

const run = promisify(execFile);
const fixtures = 'containers-image/internal/image/fixtures';
// The config fixture both schema2.json and oci1.json name (a Docker config with an `&` in Env).
const CONFIG = '9ca4bda0a6b3727a6ffcc43e981cad0f24e2ec79d338f6ba325b4dfd0756fb8f';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-inspect-fixtures-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** A dir: layout with `manifest` and, when given, the config blob. */
async function layout(name: string, manifest: string, config?: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path);
  await copyFile(conformancePath(manifest), join(path, 'manifest.json'));
  if (config !== undefined) await copyFile(conformancePath(config), join(path, CONFIG));
  await writeFile(join(path, 'version'), 'Directory Transport Version: 1.1\n');
  return `dir:${path}`;
}

describe('inspect --config on upstream fixtures, like skopeo', () => {
  const cases: [string, string, string | undefined][] = [
    ['schema1 (pause)', `${fixtures}/schema1-for-oci-config.json`, undefined],
    ['schema1', `${fixtures}/schema1.json`, undefined],
    ['schema1 signed, docker 1.8.2', 'containers-image/manifest/fixtures/v2s1.manifest.json', undefined],
    ['schema1 unsigned', 'containers-image/manifest/fixtures/v2s1-unsigned.manifest.json', undefined],
    ['schema2 with a Docker config', `${fixtures}/schema2.json`, `${fixtures}/schema2-config.json`],
    ['OCI with a Docker config', `${fixtures}/oci1.json`, `${fixtures}/oci1-config.json`],
  ];
  for (const [name, manifest, config] of cases) {
    for (const flags of [['--config'], ['--config', '--raw']]) {
      it(`${name}: inspect ${flags.join(' ')}`, async () => {
        const image = await layout(`${name.replaceAll(/\W/g, '-')}${flags.length}`, manifest, config);
        const theirs = await run('skopeo', ['inspect', ...flags, image]);
        const ours = await runCli(['inspect', ...flags, image]);
        assert.equal(ours.code, 0, ours.stderr);
        assert.equal(ours.stdout, theirs.stdout);
      });
    }
  }

  it('escapes HTML characters in the default output as skopeo does', async () => {
    const image = await layout('escape', `${fixtures}/schema2.json`, `${fixtures}/schema2-config.json`);
    const theirs = await run('skopeo', ['inspect', image]);
    const ours = await runCli(['inspect', image]);
    assert.equal(ours.code, 0, ours.stderr);
    const env = (text: string) => text.split('\n').filter((l) => l.includes('HTTPD_BZ2_URL'));
    assert.match(env(theirs.stdout)[0] ?? '', /\\u0026/);
    assert.deepEqual(env(ours.stdout), env(theirs.stdout));
  });
});
