// Plain HTTP only where configured, as skopeo: a loopback registry gets no exception (another
// local user may be the one listening there). The real Distribution registry serves plain HTTP.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { SystemContext } from '../../../../src/image/index.ts';
import { closeAllAgents } from '../../../../src/image/transports/docker/index.ts';
import { runCli } from '../../../helpers/cli.ts';
import { type DockerTestEnv, dockerTestEnv } from '../../../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { pushWithFetch, syntheticImage } from '../../../helpers/synthetic-image.ts';

const run = promisify(execFile);
let registry: TestRegistry;
let env: DockerTestEnv;
let image: string;

before(async () => {
  [registry, env] = await Promise.all([startRegistry(), dockerTestEnv({ plainHttp: false })]);
  await pushWithFetch(registry.url, 'plain/app', 'v1', syntheticImage());
  image = `${registry.host}/plain/app:v1`;
});
after(async () => {
  await Promise.all([registry?.stop(), env?.cleanup()]);
  await closeAllAgents();
});

async function conf(name: string, toml: string): Promise<SystemContext> {
  const path = join(env.dir, name);
  await writeFile(path, toml);
  return { ...env.ctx, registriesConfPath: path };
}

const open = async (ctx: SystemContext) => {
  const source = await env.transport.parseReference(`//${image}`).newImageSource(ctx);
  try {
    return await source.getManifest();
  } finally {
    await source.close();
  }
};

describe('docker transport: plain HTTP to a loopback registry', () => {
  it('is refused by default, with a reason that names both settings', async () => {
    await assert.rejects(open(env.ctx), {
      code: 'TLS_ERROR',
      message:
        /answered in plain HTTP, not TLS \(plain HTTP is used only with --tls-verify=false or insecure = true in registries\.conf\)/,
    });
  });

  it('is used with tlsVerify false (--tls-verify=false)', async () => {
    assert.ok((await open({ ...env.ctx, tlsVerify: false })).manifest.length > 0);
  });

  it('is used when registries.conf marks the registry insecure, and only that registry', async () => {
    const marked = await conf(
      'insecure.conf',
      `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`,
    );
    assert.ok((await open(marked)).manifest.length > 0);
    const other = await conf('other.conf', '[[registry]]\nlocation = "127.0.0.1:1"\ninsecure = true\n');
    await assert.rejects(open(other), { code: 'TLS_ERROR' });
  });
});

describe('CLI: plain HTTP to a loopback registry', () => {
  const inspect = (...flags: string[]) =>
    runCli(
      ['inspect', '--raw', '--registries-conf', env.ctx.registriesConfPath!, ...flags, `docker://${image}`],
      {
        HOME: env.dir,
      },
    );

  it('inspect without --tls-verify=false fails as skopeo does, saying why', async () => {
    const r = await inspect();
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /answered in plain HTTP, not TLS/);
    const skopeo = await run('skopeo', ['inspect', '--raw', `docker://${image}`], {
      env: { ...process.env, HOME: env.dir, CONTAINERS_REGISTRIES_CONF: env.ctx.registriesConfPath },
    }).then(
      () => assert.fail('skopeo read the image over plain HTTP'),
      (err: { stderr: string }) => err.stderr,
    );
    assert.match(skopeo, /server gave HTTP response to HTTPS client/);
  });

  it('inspect --tls-verify=false reads the image', async () => {
    const r = await inspect('--tls-verify=false');
    assert.equal(r.code, 0, r.stderr);
  });
});
