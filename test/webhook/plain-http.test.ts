// The webhook speaks plain HTTP to a registry only when its registries.conf marks it insecure, a
// loopback one included: the real server, the real Distribution registry (plain HTTP).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../../src/server.ts';
import { writeSelfSignedCertificate } from '../../src/webhook/tls.ts';
import { type DockerTestEnv, dockerTestEnv, LOOPBACK_PLAIN_HTTP } from '../helpers/docker-env.ts';
import { httpsRequest } from '../helpers/https.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { bundlePolicyJson, newSigstoreSigner } from '../helpers/sigstore-bundles.ts';
import { pushWithFetch, syntheticImage } from '../helpers/synthetic-image.ts';
import { realComponents, serverConfig } from './real-server.ts';
import { podSpec, review, workload } from './rig.ts';

describe('webhook: plain HTTP only to registries marked insecure', () => {
  let registry: TestRegistry;
  let env: DockerTestEnv;
  let work: string;
  let server: RunningServer;
  let ca: Buffer;
  let image: string;

  const admit = async (uid: string) => {
    const body = review('', 'Pod', workload('', 'Pod', podSpec([image])), { uid });
    const res = await httpsRequest(`${server.url}/validate`, { ca, body });
    assert.equal(res.status, 200, res.body);
    return JSON.parse(res.body).response as { allowed: boolean; status: { message: string } };
  };

  before(async () => {
    [registry, env] = await Promise.all([startRegistry(), dockerTestEnv({ plainHttp: false })]);
    work = await mkdtemp(join(tmpdir(), 'portcullis-webhook-plain-'));
    await pushWithFetch(registry.url, 'plain/app', 'v1', syntheticImage());
    image = `${registry.host}/plain/app:v1`;
    const { signer } = await newSigstoreSigner(new TextEncoder().encode('plain http'));
    await writeFile(join(work, 'policy.json'), bundlePolicyJson(registry.host, signer));
    await writeFile(join(work, 'registries.conf'), '');
    const tls = await writeSelfSignedCertificate(work, ['127.0.0.1']);
    ca = await readFile(tls.certPath);
    server = await startServer(serverConfig(work), realComponents(work, env.transport));
  });
  after(async () => {
    await server?.close();
    await Promise.all([registry?.stop(), env?.cleanup()]);
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('does not read a loopback registry that registries.conf does not mark insecure', async () => {
    const response = await admit('uid-unmarked');
    assert.equal(response.allowed, false);
    assert.match(
      response.status.message,
      /could not be verified: .*the registry answered in plain HTTP, not TLS \(plain HTTP is used only with --tls-verify=false or insecure = true in registries\.conf\)$/,
    );
  });

  it('reads it once registries.conf marks it insecure, and judges the image', async () => {
    await writeFile(join(work, 'registries.conf'), LOOPBACK_PLAIN_HTTP);
    const response = await admit('uid-marked');
    assert.equal(response.allowed, false);
    assert.match(
      response.status.message,
      /is not trusted: A signature was required, but no signature exists; probed: tag sha256-[0-9a-f]{64}\.sig: no signatures; referrers: none$/,
    );
  });
});
