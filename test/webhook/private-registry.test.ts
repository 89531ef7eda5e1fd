// Pull credentials end to end: a registry that requires a login, a pod whose namespace has a
// pull secret for it and one whose namespace has none. The verdict cache must never let the
// second ride on the first's credentials.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PullSecretSource } from '../../src/policy/index.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { writeSelfSignedCertificate } from '../../src/webhook/tls.ts';
import { type DockerTestEnv, dockerTestEnv } from '../helpers/docker-env.ts';
import { httpsRequest } from '../helpers/https.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { type GnupgHome, gnupgHome } from '../image/signature/gnupg.ts';
import { pushSignedImage, realComponents, serverConfig } from './real-server.ts';
import { podSpec, review, workload } from './rig.ts';

describe('webhook with a private registry', () => {
  let registry: TestRegistry;
  let env: DockerTestEnv;
  let gpg: GnupgHome;
  let work: string;
  let server: RunningServer;
  let ca: Buffer;
  let image: string;
  const asked: string[] = [];

  const admitIn = async (namespace: string) => {
    const body = review('', 'Pod', workload('', 'Pod', podSpec([image])), {
      namespace,
      uid: `uid-${namespace}`,
    });
    const res = await httpsRequest(`${server.url}/validate`, { ca, body });
    assert.equal(res.status, 200, res.body);
    return JSON.parse(res.body).response;
  };

  before(async () => {
    [registry, env, gpg] = await Promise.all([
      startRegistry({ users: { alice: 's3cret' } }),
      dockerTestEnv(),
      gnupgHome(),
    ]);
    work = await mkdtemp(join(tmpdir(), 'portcullis-private-'));
    image = `${registry.host}/team/app:v1`;
    await pushSignedImage(work, gpg, registry.host, image, ['--dest-creds', 'alice:s3cret']);
    const secret = JSON.stringify({
      auths: { [registry.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } },
    });
    // Only team-a has a pull secret for the registry.
    const pullSecrets: PullSecretSource = {
      async secretsFor(context) {
        asked.push(`${context.namespace}/${context.serviceAccountName}`);
        return { dockerConfigJson: context.namespace === 'team-a' ? [secret] : [] };
      },
    };
    const tls = await writeSelfSignedCertificate(work, ['127.0.0.1']);
    ca = await readFile(tls.certPath);
    server = await startServer(serverConfig(work), { ...realComponents(work, env.transport), pullSecrets });
  });
  after(async () => {
    await server?.close();
    await Promise.all([registry?.stop(), env?.cleanup(), gpg?.remove()]);
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('admits the signed image for a pod whose namespace holds a pull secret', async () => {
    const response = await admitIn('team-a');
    assert.equal(response.allowed, true, JSON.stringify(response));
    assert.ok(asked.includes('team-a/default'));
  });

  it('denies it for a pod without credentials, even right after the admission above', async () => {
    const response = await admitIn('team-b');
    assert.equal(response.allowed, false);
    assert.match(
      response.status.message,
      new RegExp(`"${image}" at spec\\.containers\\[0\\]\\.image could not be verified: `),
    );
  });

  it('still admits the pod with credentials, and never puts them in the answer', async () => {
    const response = await admitIn('team-a');
    assert.equal(response.allowed, true);
    assert.doesNotMatch(JSON.stringify(response), /s3cret|YWxpY2U6czNjcmV0/);
  });
});
