// login / logout against registries with htpasswd Basic auth and the Bearer token flow.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { storeCredentials, storedUsername } from '../../src/image/index.ts';
import { runCli } from '../helpers/cli.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { startTokenServer, type TokenServer, tokenAuthConfig } from '../helpers/token-server.ts';

const PASSWORD = 'login-secret-Xy7';
let dir: string;
let conf: string;
let basic: TestRegistry;
let bearer: TestRegistry;
let tokens: TokenServer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-login-'));
  conf = join(dir, 'registries.conf');
  await writeFile(conf, '');
  basic = await startRegistry({ users: { carol: PASSWORD } });
  tokens = await startTokenServer({ users: { carol: PASSWORD } });
  bearer = await startRegistry({ token: tokenAuthConfig(tokens) });
});
after(async () => {
  await basic.stop();
  await bearer.stop();
  await tokens.stop();
  await rm(dir, { recursive: true, force: true });
});

for (const kind of ['basic', 'bearer'] as const) {
  describe(`login with ${kind} auth`, () => {
    const host = () => (kind === 'basic' ? basic : bearer).host;
    const authfile = () => join(dir, `${kind}-auth.json`);
    const login = (password: string) =>
      runCli([
        'login',
        '--tls-verify=false',
        '--registries-conf',
        conf,
        '--authfile',
        authfile(),
        '-u',
        'carol',
        '-p',
        password,
        host(),
      ]);
    const listTags = () =>
      runCli([
        'list-tags',
        '--tls-verify=false',
        '--registries-conf',
        conf,
        '--authfile',
        authfile(),
        `docker://${host()}/nothing/here`,
      ]);

    it('stores credentials only after the registry accepted them', async () => {
      const bad = await login('wrong-pw');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /status 401|UNAUTHORIZED|unauthorized/i);
      assert.ok(!bad.stderr.includes('wrong-pw'));
      await assert.rejects(readFile(authfile()), { code: 'ENOENT' });
      const ok = await login(PASSWORD);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'Login Succeeded!\n');
      const stored = JSON.parse(await readFile(authfile(), 'utf8')) as {
        auths: Record<string, { auth: string }>;
      };
      assert.equal(Buffer.from(stored.auths[host()]!.auth, 'base64').toString(), `carol:${PASSWORD}`);
    });

    it('uses the stored credentials, --get-login shows the user, logout removes them', async () => {
      const tags = await listTags();
      assert.match(tags.stderr, /NAME_UNKNOWN/);
      const who = await runCli(['login', '--get-login', '--authfile', authfile(), host()]);
      assert.equal(who.stdout, 'carol\n');
      const out = await runCli(['logout', '--authfile', authfile(), host()]);
      assert.equal(out.stdout, `Removed login credentials for ${host()}\n`);
      const again = await runCli(['logout', '--authfile', authfile(), host()]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /not logged into/);
      const anonymous = await listTags();
      assert.match(anonymous.stderr, /UNAUTHORIZED|DENIED/);
    });
  });
}

describe('logout --all', () => {
  it('removes every stored registry', async () => {
    const file = join(dir, 'all-auth.json');
    await storeCredentials(file, 'a.example.com', 'u', 'p');
    await storeCredentials(file, 'b.example.com/ns', 'v', 'q');
    const r = await runCli(['logout', '--all', '--authfile', file]);
    assert.equal(r.stdout, 'Removed login credentials for all registries\n');
    assert.equal(await storedUsername(file, 'a.example.com'), undefined);
    assert.equal(await storedUsername(file, 'b.example.com/ns'), undefined);
  });
});

describe('login flags', () => {
  it('requires a username and a password source', async () => {
    assert.equal((await runCli(['login', 'example.com'])).code, 2);
    assert.equal((await runCli(['login', '-u', 'x', 'example.com'])).code, 2);
  });
});
