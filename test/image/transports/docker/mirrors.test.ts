// registries.conf honoured by the transport: mirrors (incl. digest-only), location rewrite, blocked.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SystemContext } from '../../../../src/image/index.ts';
import { closeAllAgents, type DockerImageSource } from '../../../../src/image/transports/docker/index.ts';
import { type DockerTestEnv, dockerTestEnv, LOOPBACK_PLAIN_HTTP } from '../../../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { pushWithFetch, syntheticImage } from '../../../helpers/synthetic-image.ts';

let primary: TestRegistry;
let mirror: TestRegistry;
let env: DockerTestEnv;

before(async () => {
  [primary, mirror] = await Promise.all([startRegistry(), startRegistry()]);
  env = await dockerTestEnv();
});
after(async () => {
  await Promise.all([primary.stop(), mirror.stop()]);
  await env.cleanup();
  await closeAllAgents();
});

/** `toml`, then the loopback registries marked insecure (plain HTTP), as a registries.conf of its own. */
async function withConf(name: string, toml: string): Promise<SystemContext> {
  const path = join(env.dir, name);
  await writeFile(path, `${toml}${LOOPBACK_PLAIN_HTTP}`);
  return { ...env.ctx, registriesConfPath: path };
}

describe('registries.conf mirrors and rewrites', () => {
  it('reads from a mirror first and records where the image came from', async () => {
    const onMirror = syntheticImage();
    const onPrimary = syntheticImage();
    await pushWithFetch(mirror.url, 'mirrored/img', 'v1', onMirror);
    await pushWithFetch(primary.url, 'ns/img', 'v1', onPrimary);
    const ctx = await withConf(
      'mirror.conf',
      `[[registry]]\nprefix = "example.invalid/ns"\nlocation = "${primary.host}/ns"\ninsecure = true\n[[registry.mirror]]\nlocation = "${mirror.host}/mirrored"\ninsecure = true\n`,
    );
    const src = (await env.transport
      .parseReference('//example.invalid/ns/img:v1')
      .newImageSource(ctx)) as DockerImageSource;
    assert.equal(src.physicalRef.toString(), `${mirror.host}/mirrored/img:v1`);
    assert.deepEqual(Buffer.from((await src.getManifest()).manifest), onMirror.manifest);
    // the logical reference stays what the user asked for (policy identities use it)
    assert.equal(src.reference.dockerReference().toString(), 'example.invalid/ns/img:v1');
  });

  it('falls back to the rewritten primary location when the mirror lacks the image', async () => {
    const image = syntheticImage();
    await pushWithFetch(primary.url, 'ns/only-primary', 'v1', image);
    const ctx = await withConf(
      'fallback.conf',
      `[[registry]]\nprefix = "example.invalid/ns"\nlocation = "${primary.host}/ns"\ninsecure = true\n[[registry.mirror]]\nlocation = "${mirror.host}/mirrored"\ninsecure = true\n`,
    );
    const src = (await env.transport
      .parseReference('//example.invalid/ns/only-primary:v1')
      .newImageSource(ctx)) as DockerImageSource;
    assert.equal(src.physicalRef.toString(), `${primary.host}/ns/only-primary:v1`);
  });

  it('uses a digest-only mirror for digests but not for tags', async () => {
    const image = syntheticImage();
    await pushWithFetch(mirror.url, 'dig/img', 'v1', image);
    await pushWithFetch(primary.url, 'dig/img', 'v1', image);
    const ctx = await withConf(
      'digest-only.conf',
      `[[registry]]\nprefix = "example.invalid/dig"\nlocation = "${primary.host}/dig"\ninsecure = true\n[[registry.mirror]]\nlocation = "${mirror.host}/dig"\ninsecure = true\npull-from-mirror = "digest-only"\n`,
    );
    const byTag = (await env.transport
      .parseReference('//example.invalid/dig/img:v1')
      .newImageSource(ctx)) as DockerImageSource;
    assert.equal(byTag.physicalRef.domain, primary.host);
    const byDigest = (await env.transport
      .parseReference(`//example.invalid/dig/img@${image.manifestDigest}`)
      .newImageSource(ctx)) as DockerImageSource;
    assert.equal(byDigest.physicalRef.domain, mirror.host);
  });

  it('refuses a blocked registry before any request', async () => {
    const ctx = await withConf(
      'blocked.conf',
      `[[registry]]\nlocation = "${primary.host}"\nblocked = true\n`,
    );
    await assert.rejects(env.transport.parseReference(`//${primary.host}/ns/img:v1`).newImageSource(ctx), {
      code: 'REGISTRY_BLOCKED',
    });
    await assert.rejects(
      env.transport.parseReference(`//${primary.host}/ns/img:v1`).newImageDestination(ctx),
      {
        code: 'REGISTRY_BLOCKED',
      },
    );
  });
});

describe('registries.conf edits while the process runs', () => {
  it('a registry blocked after sources were opened refuses the next open, and unblocking restores it', async () => {
    await pushWithFetch(primary.url, 'live/img', 'v1', syntheticImage());
    const ctx = await withConf('live.conf', '');
    const open = async () => {
      const src = await env.transport.parseReference(`//${primary.host}/live/img:v1`).newImageSource(ctx);
      try {
        return await src.getManifest();
      } finally {
        await src.close();
      }
    };
    await open();
    await open();
    await withConf('live.conf', `[[registry]]\nlocation = "${primary.host}"\nblocked = true\n`);
    await assert.rejects(open(), { code: 'REGISTRY_BLOCKED' });
    await withConf('live.conf', '');
    await open();
  });
});
