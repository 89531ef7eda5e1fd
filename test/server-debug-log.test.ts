// `serve` at log level debug: each registry request the webhook makes is a JSON log line, with no
// credential in it; below debug, and after close, nothing listens to the request events.
import assert from 'node:assert/strict';
import { hasSubscribers } from 'node:diagnostics_channel';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { REQUEST_CHANNEL } from '../src/image/index.ts';
import type { PullSecretSource } from '../src/policy/index.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { writeSelfSignedCertificate } from '../src/webhook/tls.ts';
import { type DockerTestEnv, dockerTestEnv } from './helpers/docker-env.ts';
import { httpsRequest } from './helpers/https.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';
import { type GnupgHome, gnupgHome } from './image/signature/gnupg.ts';
import { pushSignedImage, realComponents, serverConfig } from './webhook/real-server.ts';
import { podSpec, review, workload } from './webhook/rig.ts';

const PASSWORD = 'debug-log-s3cret';

describe('serve with debug logging', () => {
  let registry: TestRegistry;
  let env: DockerTestEnv;
  let gpg: GnupgHome;
  let work: string;
  let ca: Buffer;
  let image: string;
  let pullSecrets: PullSecretSource;

  before(async () => {
    [registry, env, gpg] = await Promise.all([
      startRegistry({ users: { alice: PASSWORD } }),
      dockerTestEnv(),
      gnupgHome(),
    ]);
    work = await mkdtemp(join(tmpdir(), 'portcullis-debug-log-'));
    image = `${registry.host}/team/app:v1`;
    await pushSignedImage(work, gpg, registry.host, image, ['--dest-creds', `alice:${PASSWORD}`]);
    const secret = JSON.stringify({
      auths: { [registry.host]: { auth: Buffer.from(`alice:${PASSWORD}`).toString('base64') } },
    });
    pullSecrets = { secretsFor: async () => ({ dockerConfigJson: [secret] }) };
    ca = await readFile((await writeSelfSignedCertificate(work, ['127.0.0.1'])).certPath);
  });
  after(async () => {
    await Promise.all([registry?.stop(), env?.cleanup(), gpg?.remove()]);
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  const admitWith = async (logLevel: 'debug' | 'info') => {
    let logs = '';
    const logDestination = new Writable({
      write(chunk, _e, done) {
        logs += chunk.toString();
        done();
      },
    });
    const server: RunningServer = await startServer(serverConfig(work, { logLevel }), {
      ...realComponents(work, env.transport),
      pullSecrets,
      logDestination,
    });
    try {
      assert.equal(hasSubscribers(REQUEST_CHANNEL), logLevel === 'debug');
      const body = review('', 'Pod', workload('', 'Pod', podSpec([image])), { uid: `uid-${logLevel}` });
      const res = await httpsRequest(`${server.url}/validate`, { ca, body });
      assert.equal(JSON.parse(res.body).response.allowed, true, res.body);
    } finally {
      await server.close();
    }
    assert.equal(hasSubscribers(REQUEST_CHANNEL), false);
    return logs
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { msg: string; level: number; request?: Record<string, unknown> });
  };

  it('logs each registry request at debug level, without credentials', async () => {
    const lines = await admitWith('debug');
    const requests = lines.filter((l) => l.msg === 'registry request');
    assert.ok(
      requests.some(
        (l) =>
          l.level === 20 &&
          l.request?.method === 'HEAD' &&
          l.request.scheme === 'http' &&
          l.request.host === registry.host &&
          l.request.path === '/v2/team/app/manifests/v1' &&
          l.request.status === 200 &&
          typeof l.request.durationMs === 'number',
      ),
      JSON.stringify(requests, null, 1),
    );
    const text = JSON.stringify(lines);
    for (const secret of [PASSWORD, Buffer.from(`alice:${PASSWORD}`).toString('base64')]) {
      assert.ok(!text.includes(secret), 'a credential reached the log');
    }
    assert.doesNotMatch(text, /authorization/i);
  });

  it('logs no registry request at info level', async () => {
    const lines = await admitWith('info');
    assert.deepEqual(
      lines.filter((l) => l.msg === 'registry request'),
      [],
    );
  });
});
