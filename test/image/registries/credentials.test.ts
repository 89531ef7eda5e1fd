import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  authFileSearchPath,
  findCredentials,
  removeCredentials,
  storeCredentials,
  storedUsername,
} from '../../../src/image/registries/credentials.ts';
import { conformancePath } from '../../helpers/conformance.ts';

const fixture = (f: string) => conformancePath(`containers-image/pkg/docker/config/testdata/${f}`);
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-creds-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const lookup = (repository: string, authFilePath: string, extra: Record<string, unknown> = {}) =>
  findCredentials({ repository, env: {}, home: dir, authFilePath, ...extra });

describe('auth.json lookup (upstream fixtures)', () => {
  const table: [string, string, string | undefined][] = [
    ['full.json', 'example.org/x', 'example:org'],
    ['full.json', 'localhost:5000/x', 'local:host-5000'],
    ['full.json', 'localhost/x', 'local:host'],
    ['full.json', 'normalize.example.org/x', 'normalize:example'],
    ['full.json', 'unknown.example.org/x', undefined],
    ['refpath.json', 'example.org/repo', 'example:org'],
    ['refpath.json', 'example.org/other', 'local:host'],
    ['refpath.json', 'docker.io/vendor/product', 'first:level'],
    ['refpath.json', 'docker.io/library/busybox', 'library:busybox'],
    ['refpath.json', 'docker.io/library/alpine', 'library:other'],
    ['refpath.json', 'docker.io/other/x', 'top:level'],
  ];
  for (const [file, repo, want] of table) {
    it(`${file}: ${repo} -> ${want ?? 'anonymous'}`, async () => {
      const found = await lookup(repo, fixture(file));
      assert.equal(found === undefined ? undefined : `${found.username}:${found.password}`, want);
    });
  }
});

describe('credential sources and precedence', () => {
  it('explicit credentials win over files; noCredentials wins over everything', async () => {
    const explicit = { username: 'u', password: 'p' };
    assert.deepEqual(await lookup('example.org/x', fixture('full.json'), { explicit }), explicit);
    assert.equal(
      await lookup('example.org/x', fixture('full.json'), { explicit, noCredentials: true }),
      undefined,
    );
  });

  it('a .dockerconfigjson is consulted before auth files', async () => {
    const blob = JSON.stringify({
      auths: { 'example.org': { auth: Buffer.from('k8s:secret').toString('base64') } },
    });
    const found = await lookup('example.org/x', fixture('full.json'), { dockerConfigJson: [blob] });
    assert.equal(found?.username, 'k8s');
  });

  it('asks a docker-credential helper named in credHelpers', async () => {
    const bin = join(dir, 'bin');
    await (await import('node:fs/promises')).mkdir(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-portcullis-test');
    await writeFile(
      helper,
      '#!/bin/sh\nread host\nif [ "$host" = "helped.example.com" ]; then echo "{\\"Username\\":\\"helper-user\\",\\"Secret\\":\\"helper-secret\\"}"; else echo "credentials not found in native keychain"; exit 1; fi\n',
    );
    await chmod(helper, 0o755);
    const authFile = join(dir, 'helpers.json');
    await writeFile(
      authFile,
      JSON.stringify({
        credHelpers: { 'helped.example.com': 'portcullis-test', 'other.example.com': 'portcullis-test' },
      }),
    );
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    try {
      assert.deepEqual(await lookup('helped.example.com/x', authFile), {
        username: 'helper-user',
        password: 'helper-secret',
      });
      assert.equal(await lookup('other.example.com/x', authFile), undefined);
      // credsStore answers for hosts without an auths entry; auths entries win over it
      const storeFile = join(dir, 'store.json');
      await writeFile(
        storeFile,
        JSON.stringify({
          credsStore: 'portcullis-test',
          auths: { 'example.org': { auth: Buffer.from('file:pw').toString('base64') } },
        }),
      );
      assert.equal((await lookup('helped.example.com/x', storeFile))?.username, 'helper-user');
      assert.equal((await lookup('example.org/x', storeFile))?.username, 'file');
    } finally {
      process.env.PATH = oldPath;
    }
  });

  it('searches $XDG_RUNTIME_DIR, ~/.config, ~/.docker/config.json and ~/.dockercfg in order', () => {
    assert.deepEqual(authFileSearchPath({ env: { XDG_RUNTIME_DIR: '/run/user/1' }, home: '/h' }), [
      { path: '/run/user/1/containers/auth.json', legacy: false },
      { path: '/h/.config/containers/auth.json', legacy: false },
      { path: '/h/.docker/config.json', legacy: false },
      { path: '/h/.dockercfg', legacy: true },
    ]);
    assert.deepEqual(authFileSearchPath({ env: { REGISTRY_AUTH_FILE: '/x.json' }, home: '/h' }), [
      { path: '/x.json', legacy: false },
    ]);
  });

  it('reads the legacy ~/.dockercfg layout', async () => {
    const home = join(dir, 'legacyhome');
    await (await import('node:fs/promises')).mkdir(home, { recursive: true });
    await writeFile(join(home, '.dockercfg'), await readFile(fixture('legacy.json')));
    const found = await findCredentials({ repository: 'docker.io/library/busybox', env: {}, home });
    assert.equal(`${found?.username}:${found?.password}`, 'docker:io-legacy');
  });
});

describe('login storage', () => {
  it('stores, reads back and removes credentials with a private file mode', async () => {
    const path = join(dir, 'nested/auth.json');
    await storeCredentials(path, 'registry.example.com', 'me', 'pw');
    assert.equal(await storedUsername(path, 'registry.example.com'), 'me');
    const { stat } = await import('node:fs/promises');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal(await removeCredentials(path, 'registry.example.com'), true);
    assert.equal(await removeCredentials(path, 'registry.example.com'), false);
    assert.equal(await storedUsername(path, 'registry.example.com'), undefined);
  });
});
