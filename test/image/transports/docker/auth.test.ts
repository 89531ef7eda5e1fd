// Basic (htpasswd) and Bearer token authentication against the real Distribution registry.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SystemContext } from '../../../../src/image/index.ts';
import { parseChallenges, TokenCache } from '../../../../src/image/transports/docker/auth.ts';
import {
  closeAllAgents,
  DockerError,
  type DockerImageSource,
} from '../../../../src/image/transports/docker/index.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../../../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { syntheticImage } from '../../../helpers/synthetic-image.ts';
import { startTokenServer, type TokenServer, tokenAuthConfig } from '../../../helpers/token-server.ts';

const PASSWORD = 'S3cret-pässword-do-not-log';
let env: DockerTestEnv;

before(async () => {
  env = await dockerTestEnv();
});
after(async () => {
  await env.cleanup();
  await closeAllAgents();
});

/** Asserts the error is typed and carries no secret anywhere in its message chain. */
function assertSecretFree(e: unknown, secrets: readonly string[]): void {
  let cur: unknown = e;
  while (cur instanceof Error) {
    for (const s of secrets) assert.ok(!cur.message.includes(s), `secret leaked in: ${cur.message}`);
    cur = cur.cause;
  }
}

describe('token cache', () => {
  it('keeps a token until shortly before it expires', () => {
    let now = 1_000_000;
    const cache = new TokenCache(() => now);
    cache.set('scope', 'token-a', 60);
    assert.equal(cache.get('scope'), 'token-a');
    now += 54_000;
    assert.equal(cache.get('scope'), 'token-a');
    now += 2_000;
    assert.equal(cache.get('scope'), undefined);
  });
});

describe('WWW-Authenticate parsing', () => {
  const table = [
    {
      header:
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull"',
      want: [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.example.com/token',
            service: 'registry.example.com',
            scope: 'repository:a/b:pull',
          },
        },
      ],
    },
    { header: 'Basic realm="test-realm"', want: [{ scheme: 'basic', params: { realm: 'test-realm' } }] },
    { header: 'Basic', want: [{ scheme: 'basic', params: {} }] },
    {
      header: 'Basic realm="a, b", Bearer realm="x\\"y"',
      want: [
        { scheme: 'basic', params: { realm: 'a, b' } },
        { scheme: 'bearer', params: { realm: 'x"y' } },
      ],
    },
  ];
  for (const t of table) {
    it(`parses ${t.header}`, () => assert.deepEqual(parseChallenges([t.header]), t.want));
  }
});

describe('htpasswd Basic auth', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({ users: { alice: PASSWORD } });
  });
  after(() => registry.stop());
  const ref = (s: string) => env.transport.parseReference(`//${registry.host}/${s}`);
  const withCreds: () => SystemContext = () => ({
    ...env.ctx,
    credentials: { username: 'alice', password: PASSWORD },
  });

  it('pushes and pulls with explicit credentials', async () => {
    const image = syntheticImage();
    const dest = await ref('basic/img:v1').newImageDestination(withCreds());
    await putImage(dest, image);
    const src = (await ref('basic/img:v1').newImageSource(withCreds())) as DockerImageSource;
    assert.equal(await src.manifestDigest(), image.manifestDigest);
  });

  it('finds credentials in an auth.json file (most specific key first)', async () => {
    const authFile = join(env.dir, 'basic-auth.json');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    await writeFile(
      authFile,
      JSON.stringify({
        auths: {
          [registry.host]: { auth: b64('alice:wrong') },
          [`${registry.host}/basic`]: { auth: b64(`alice:${PASSWORD}`) },
        },
      }),
    );
    const src = await ref('basic/img:v1').newImageSource({ ...env.ctx, authFilePath: authFile });
    assert.ok((await src.getManifest()).manifest.length > 0);
  });

  it('finds credentials in a Kubernetes .dockerconfigjson', async () => {
    const blob = JSON.stringify({
      auths: { [registry.host]: { auth: Buffer.from(`alice:${PASSWORD}`).toString('base64') } },
    });
    const src = await ref('basic/img:v1').newImageSource({ ...env.ctx, dockerConfigJson: [blob] });
    assert.ok((await src.getManifest()).manifest.length > 0);
  });

  const failures: { name: string; ctx: () => SystemContext; code: string }[] = [
    { name: 'no credentials', ctx: () => env.ctx, code: 'UNAUTHORIZED' },
    {
      name: 'a wrong password',
      ctx: () => ({ ...env.ctx, credentials: { username: 'alice', password: `${PASSWORD}x` } }),
      code: 'UNAUTHORIZED',
    },
  ];
  for (const f of failures) {
    it(`refuses ${f.name} with ${f.code} and leaks no secret`, async () => {
      await assert.rejects(ref('basic/img:v1').newImageSource(f.ctx()), (e: unknown) => {
        assert.ok(e instanceof DockerError);
        assert.equal(e.code, f.code);
        assertSecretFree(e, [PASSWORD, Buffer.from(`alice:${PASSWORD}`).toString('base64')]);
        return true;
      });
    });
  }
});

describe('Bearer token flow', () => {
  let registry: TestRegistry;
  let tokens: TokenServer;
  before(async () => {
    tokens = await startTokenServer({ users: { bob: PASSWORD }, anonymousPull: true });
    registry = await startRegistry({ token: tokenAuthConfig(tokens) });
  });
  after(async () => {
    await registry.stop();
    await tokens.stop();
  });
  const ref = (s: string) => env.transport.parseReference(`//${registry.host}/${s}`);

  it('pushes with credentials (pull,push scope) and pulls anonymously (pull scope)', async () => {
    const image = syntheticImage();
    const dest = await ref('tok/img:v1').newImageDestination({
      ...env.ctx,
      credentials: { username: 'bob', password: PASSWORD },
    });
    await putImage(dest, image);
    assert.ok(
      tokens.requests.some((r) => r.user === 'bob' && r.scopes.includes('repository:tok/img:pull,push')),
    );
    const before = tokens.requests.length;
    const src = (await ref('tok/img:v1').newImageSource({
      ...env.ctx,
      noCredentials: true,
    })) as DockerImageSource;
    assert.equal(await src.manifestDigest(), image.manifestDigest);
    for (const b of image.layers) await src.client.headBlob('tok/img', b.digest);
    // one token for the pull scope, cached across the following requests
    const pulls = tokens.requests.slice(before);
    assert.equal(pulls.length, 1);
    assert.deepEqual(pulls[0]!.scopes, ['repository:tok/img:pull']);
    assert.equal(pulls[0]!.user, undefined);
  });

  it('asks for pull on the source repository when mounting across repositories', async () => {
    const image = syntheticImage({ layers: 1 });
    const creds = { ...env.ctx, credentials: { username: 'bob', password: PASSWORD } };
    await putImage(await ref('tok/a:v1').newImageDestination(creds), image);
    const dest = await ref('tok/b:v1').newImageDestination(creds);
    const layer = image.layers[0]!;
    assert.equal(
      await (
        dest as unknown as { client: { mountBlob(r: string, f: string, d: string): Promise<boolean> } }
      ).client.mountBlob('tok/b', 'tok/a', layer.digest),
      true,
    );
    assert.ok(
      tokens.requests.some(
        (r) => r.scopes.includes('repository:tok/b:pull,push') && r.scopes.includes('repository:tok/a:pull'),
      ),
    );
  });

  it('shares cached tokens between sources of the same registry and identity', async () => {
    const creds = { ...env.ctx, credentials: { username: 'bob', password: PASSWORD } };
    await putImage(await ref('tok/shared:v1').newImageDestination(creds), syntheticImage({ layers: 1 }));
    const before = tokens.requests.length;
    for (let i = 0; i < 3; i++) await (await ref('tok/shared:v1').newImageSource(creds)).getManifest();
    assert.equal(tokens.requests.length - before, 1);
  });

  it('refuses a wrong password with UNAUTHORIZED and leaks no secret', async () => {
    await assert.rejects(
      ref('tok/img:v1').newImageSource({
        ...env.ctx,
        credentials: { username: 'bob', password: 'nope-secret' },
      }),
      (e: unknown) => {
        assert.ok(e instanceof DockerError);
        assert.equal(e.code, 'UNAUTHORIZED');
        assertSecretFree(e, ['nope-secret']);
        return true;
      },
    );
  });

  it('anonymous push is DENIED or UNAUTHORIZED, never a silent success', async () => {
    const dest = await ref('tok/anon:v1').newImageDestination({ ...env.ctx, noCredentials: true });
    await assert.rejects(putImage(dest, syntheticImage({ layers: 1 })), (e: unknown) => {
      assert.ok(e instanceof DockerError);
      assert.ok(['UNAUTHORIZED', 'DENIED'].includes(e.code), e.code);
      return true;
    });
  });

  it('uses a registry token as is (--registry-token) and never shows it in errors', async () => {
    await assert.rejects(
      ref('tok/img:v1').newImageSource({ ...env.ctx, registryToken: 'not-a-jwt-secret' }),
      (e: unknown) => {
        assert.ok(e instanceof DockerError);
        assert.equal(e.code, 'UNAUTHORIZED');
        assertSecretFree(e, ['not-a-jwt-secret']);
        return true;
      },
    );
  });
});

describe('Bearer token refresh', () => {
  it('fetches a new token when the registry refuses the cached one (401)', async () => {
    const tokens = await startTokenServer({ users: { bob: PASSWORD }, anonymousPull: true, issueExpired: 1 });
    const registry = await startRegistry({ token: tokenAuthConfig(tokens) });
    try {
      const ref = env.transport.parseReference(`//${registry.host}/exp/img:v1`);
      const image = syntheticImage({ layers: 1 });
      const dest = await ref.newImageDestination({
        ...env.ctx,
        credentials: { username: 'bob', password: PASSWORD },
      });
      await putImage(dest, image);
      const issued = tokens.requests.filter((r) => r.granted);
      assert.equal(issued.length, 2, 'the expired token was replaced once');
      assert.deepEqual(issued[0]!.scopes, issued[1]!.scopes);
    } finally {
      await registry.stop();
      await tokens.stop();
    }
  });
});

describe('OAuth2 identity tokens', () => {
  it('exchanges an auth file identitytoken for an access token with a refresh_token POST', async () => {
    const tokens = await startTokenServer({ users: {}, refreshTokens: { 'refresh-secret-1': 'dave' } });
    const registry = await startRegistry({ token: tokenAuthConfig(tokens) });
    try {
      const authFile = join(env.dir, 'identity-auth.json');
      await writeFile(
        authFile,
        JSON.stringify({ auths: { [registry.host]: { auth: '', identitytoken: 'refresh-secret-1' } } }),
      );
      const ref = env.transport.parseReference(`//${registry.host}/oauth/img:v1`);
      await putImage(
        await ref.newImageDestination({ ...env.ctx, authFilePath: authFile }),
        syntheticImage({ layers: 1 }),
      );
      assert.ok(tokens.requests.length > 0);
      assert.ok(tokens.requests.every((r) => r.method === 'POST' && r.user === 'dave'));
      await writeFile(
        authFile,
        JSON.stringify({ auths: { [registry.host]: { auth: '', identitytoken: 'revoked' } } }),
      );
      await assert.rejects(ref.newImageSource({ ...env.ctx, authFilePath: authFile }), (e: unknown) => {
        assert.ok(e instanceof DockerError && e.code === 'UNAUTHORIZED');
        assertSecretFree(e, ['revoked', 'refresh-secret-1']);
        return true;
      });
    } finally {
      await registry.stop();
      await tokens.stop();
    }
  });
});
