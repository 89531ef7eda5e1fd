// registries.conf, registries.d, auth files and certs.d are parsed once per process and re-read only
// when a file or directory they came from changes.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadCerts } from '../../../src/image/registries/certs.ts';
import { findCredentials, loadAuthFile } from '../../../src/image/registries/credentials.ts';
import { loadRegistriesConf } from '../../../src/image/registries/registries-conf.ts';
import { loadRegistriesD } from '../../../src/image/registries/registries-d.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-file-cache-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('registries.conf cache', () => {
  const where = () => ({
    explicitPath: join(dir, 'registries.conf'),
    env: {},
    home: '/nonexistent',
    dropInDirs: [join(dir, 'registries.conf.d')],
  });

  it('returns the parsed configuration itself while nothing changed', async () => {
    await writeFile(join(dir, 'registries.conf'), 'unqualified-search-registries = ["one.example"]\n');
    const first = await loadRegistriesConf(where());
    assert.equal(await loadRegistriesConf(where()), first);
  });

  it('re-reads a file edited in place', async () => {
    await writeFile(join(dir, 'registries.conf'), 'unqualified-search-registries = ["two.example"]\n');
    assert.deepEqual((await loadRegistriesConf(where())).unqualifiedSearchRegistries, ['two.example']);
  });

  it('re-reads a file replaced by rename', async () => {
    await writeFile(join(dir, 'next.tmp'), 'unqualified-search-registries = ["three.example"]\n');
    await rename(join(dir, 'next.tmp'), join(dir, 'registries.conf'));
    assert.deepEqual((await loadRegistriesConf(where())).unqualifiedSearchRegistries, ['three.example']);
  });

  it('sees a drop-in directory appear, gain a file and lose it', async () => {
    const before = await loadRegistriesConf(where());
    await mkdir(join(dir, 'registries.conf.d'));
    await writeFile(join(dir, 'registries.conf.d', '50-alias.conf'), '[aliases]\nbox = "quay.io/x/box"\n');
    const withAlias = await loadRegistriesConf(where());
    assert.notEqual(withAlias, before);
    assert.equal(withAlias.aliases.box?.value, 'quay.io/x/box');
    await rm(join(dir, 'registries.conf.d', '50-alias.conf'));
    assert.equal((await loadRegistriesConf(where())).aliases.box, undefined);
  });

  it('does not cache a failure: a fixed file loads', async () => {
    await writeFile(join(dir, 'registries.conf'), 'short-name-mode = "sometimes"\n');
    await assert.rejects(loadRegistriesConf(where()), { code: 'REGISTRIES_CONF_INVALID' });
    await writeFile(join(dir, 'registries.conf'), 'short-name-mode = "enforcing"\n');
    assert.equal((await loadRegistriesConf(where())).shortNameMode, 'enforcing');
  });
});

describe('registries.d cache', () => {
  it('returns the parsed directory itself while nothing changed, and sees an edit', async () => {
    const d = join(dir, 'registries.d');
    await mkdir(d);
    await writeFile(join(d, 'a.yaml'), 'default-docker:\n  lookaside: https://one.example/sigs\n');
    const first = await loadRegistriesD(d, '/nonexistent');
    assert.equal(await loadRegistriesD(d, '/nonexistent'), first);
    await writeFile(join(d, 'a.yaml'), 'default-docker:\n  lookaside: https://two.example/sigs\n');
    const second = await loadRegistriesD(d, '/nonexistent');
    assert.equal(second.defaultDocker?.lookaside, 'https://two.example/sigs');
  });
});

describe('auth file cache', () => {
  const auth = (user: string) =>
    JSON.stringify({ auths: { 'r.example': { auth: Buffer.from(`${user}:pw`).toString('base64') } } });

  it('returns the parsed file itself while nothing changed, and sees a rewrite and a removal', async () => {
    const path = join(dir, 'auth.json');
    await writeFile(path, auth('alice'));
    const query = { repository: 'r.example/x', env: {}, home: '/nonexistent', authFilePath: path };
    assert.equal((await findCredentials(query))?.username, 'alice');
    const parsed = await loadAuthFile(path);
    assert.ok(parsed !== undefined);
    assert.equal(await loadAuthFile(path), parsed);
    await writeFile(path, auth('bob'));
    assert.equal((await findCredentials(query))?.username, 'bob');
    await rm(path);
    assert.equal(await findCredentials(query), undefined);
  });
});

describe('certs.d cache', () => {
  it('returns the loaded directory itself while nothing changed, and sees a new CA', async () => {
    const d = join(dir, 'certs.d', 'r.example');
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'a.crt'), 'first\n');
    const first = await loadCerts([d]);
    assert.equal(await loadCerts([d]), first);
    await writeFile(join(d, 'b.crt'), 'second\n');
    assert.deepEqual((await loadCerts([d])).ca, ['first\n', 'second\n']);
  });
});
