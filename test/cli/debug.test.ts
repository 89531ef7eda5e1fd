// --debug: the registry requests of a command on stderr, in skopeo's debug line format, against a
// real registry behind the Bearer token flow (htpasswd-checked users on the token server).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { closeAllAgents } from '../../src/image/index.ts';
import { clearPingCache } from '../../src/image/transports/docker/ping.ts';
import { runCli } from '../helpers/cli.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { syntheticImage } from '../helpers/synthetic-image.ts';
import { startTokenServer, type TokenServer, tokenAuthConfig } from '../helpers/token-server.ts';

const USER = 'dave';
const PASSWORD = 'trace-Secret-Qw9';
let env: DockerTestEnv;
let tokens: TokenServer;
let registry: TestRegistry;

before(async () => {
  env = await dockerTestEnv();
  tokens = await startTokenServer({ users: { [USER]: PASSWORD } });
  registry = await startRegistry({ token: tokenAuthConfig(tokens) });
  const ref = env.transport.parseReference(`//${registry.host}/trace/app:v1`);
  const dest = await ref.newImageDestination({
    ...env.ctx,
    credentials: { username: USER, password: PASSWORD },
  });
  await putImage(dest, syntheticImage({ layers: 1 }));
});
after(async () => {
  await registry.stop();
  await tokens.stop();
  await env.cleanup();
  await closeAllAgents();
});

const inspect =
  (...extra: string[]) =>
  (leading: string[] = []) =>
    runCli([
      ...leading,
      'inspect',
      ...extra,
      '--tls-verify=false',
      '--registries-conf',
      env.ctx.registriesConfPath!,
      '--creds',
      `${USER}:${PASSWORD}`,
      `docker://${registry.host}/trace/app:v1`,
    ]);

/** The msg="..." of each debug line. */
function debugMessages(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.includes('level=debug'))
    .map((l) => {
      const m = /^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=debug msg=(".*")$/.exec(l);
      assert.ok(m, `not a skopeo-style debug line: ${l}`);
      return JSON.parse(m[1]!) as string;
    });
}

describe('--debug', () => {
  it('prints every registry request of inspect: ping, token, manifest and config', async () => {
    clearPingCache();
    const r = await inspect('--debug')();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).Name, `${registry.host}/trace/app`);
    const lines = debugMessages(r.stderr);
    const token = new URL(tokens.realm);
    const expected = [
      // --tls-verify=false tries HTTPS first; the plain-HTTP registry fails it.
      new RegExp(`^GET https://${registry.host}/v2/ failed: [A-Z_]+ \\(\\d+ ms\\)$`),
      new RegExp(`^GET http://${registry.host}/v2/ status 401 \\(\\d+ ms\\)$`),
      new RegExp(`^GET http://${token.host}${token.pathname} status 200 \\(\\d+ ms\\)$`),
      new RegExp(`^GET http://${registry.host}/v2/trace/app/manifests/v1 status 200 \\(\\d+ ms\\)$`),
      new RegExp(
        `^GET http://${registry.host}/v2/trace/app/blobs/sha256:[0-9a-f]{64} status 200 \\(\\d+ ms\\)$`,
      ),
    ];
    for (const want of expected)
      assert.ok(
        lines.some((l) => want.test(l)),
        `${want} in\n${lines.join('\n')}`,
      );
  });

  it('never prints credentials, tokens or query strings', async () => {
    const r = await inspect('--debug')();
    assert.equal(r.code, 0, r.stderr);
    assert.ok(debugMessages(r.stderr).length >= 3, r.stderr);
    const basic = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    for (const secret of [PASSWORD, basic, 'eyJ', 'Bearer', 'Basic', 'scope=', 'service=', '?']) {
      assert.ok(!r.stderr.includes(secret), `${JSON.stringify(secret)} in\n${r.stderr}`);
    }
    assert.doesNotMatch(r.stderr, /authorization/i);
  });

  it('is a global flag: before the command name too; without it nothing is printed', async () => {
    const leading = await inspect()(['--debug']);
    assert.equal(leading.code, 0, leading.stderr);
    assert.ok(debugMessages(leading.stderr).some((l) => l.includes('/manifests/v1 status 200')));
    const quiet = await inspect()();
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '');
    assert.equal(quiet.stdout, leading.stdout);
  });
});
