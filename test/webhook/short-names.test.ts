// With --short-names=registries-conf, short names in pod specs are judged as the node's CRI-O would
// pull them, per the webhook's registries.conf: aliases, unqualified-search registries,
// short-name-mode; by default as docker.io/library names, as containerd pulls them. Real registries, the
// real server; registries.conf is rewritten between cases and must take effect at once.
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
import { pushWithFetch, syntheticImage } from '../helpers/synthetic-image.ts';
import { realComponents, serverConfig } from './real-server.ts';
import { podSpec, review, workload } from './rig.ts';

// Names the machine's /etc/containers/registries.conf.d drop-ins do not alias.
const SHORT = 'portcullis-demo';

describe('webhook: short names resolved as the node resolves them', () => {
  let first: TestRegistry;
  let second: TestRegistry;
  let env: DockerTestEnv;
  let work: string;
  let server: RunningServer;
  // The default --short-names=docker, reading the same registries.conf.
  let dockerServer: RunningServer;
  let ca: Buffer;

  // Top-level keys first: the loopback registries' [[registry]] table ends the file.
  const registriesConf = (toml: string) =>
    writeFile(join(work, 'registries.conf'), `${toml}\n${LOOPBACK_PLAIN_HTTP}`);
  const admit = async (image: string, to: RunningServer = server) => {
    const body = review('', 'Pod', workload('', 'Pod', podSpec([image])), { uid: `uid-${Math.random()}` });
    const res = await httpsRequest(`${to.url}/validate`, { ca, body });
    assert.equal(res.status, 200, res.body);
    return JSON.parse(res.body).response as { allowed: boolean; status?: { message: string } };
  };

  before(async () => {
    [first, second, env] = await Promise.all([startRegistry(), startRegistry(), dockerTestEnv()]);
    work = await mkdtemp(join(tmpdir(), 'portcullis-short-'));
    await registriesConf('');
    // Only docker.io/library/<SHORT> and the second registry's team/<SHORT> are trusted.
    await writeFile(
      join(work, 'policy.json'),
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`docker.io/library/${SHORT}`]: [{ type: 'insecureAcceptAnything' }],
            [`${second.host}/team/${SHORT}`]: [{ type: 'insecureAcceptAnything' }],
          },
        },
      }),
    );
    const tls = await writeSelfSignedCertificate(work, ['127.0.0.1']);
    ca = await readFile(tls.certPath);
    server = await startServer(serverConfig(work), realComponents(work, env.transport, 'registries-conf'));
    dockerServer = await startServer(serverConfig(work), realComponents(work, env.transport));
  });
  after(async () => {
    await Promise.all([server?.close(), dockerServer?.close()]);
    await Promise.all([first?.stop(), second?.stop(), env?.cleanup()]);
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('by default judges short names as docker.io/library, whatever aliases registries.conf holds', async () => {
    await registriesConf(
      `[aliases]\n"${SHORT}" = "${first.host}/team/${SHORT}"\n"other" = "${second.host}/team/${SHORT}"\n`,
    );
    assert.equal((await admit(SHORT, dockerServer)).allowed, true);
    const response = await admit('other:v1', dockerServer);
    assert.equal(response.allowed, false);
    assert.match(
      response.status?.message ?? '',
      /docker\.io\/library\/other:v1|other:v1 is rejected by policy/,
    );
    await registriesConf('');
    assert.equal(
      (await admit(SHORT, dockerServer)).allowed,
      true,
      'no search registries does not deny either',
    );
  });

  it('judges the alias target, not docker.io: an alias to an untrusted repository is denied', async () => {
    await registriesConf(`[aliases]\n"${SHORT}" = "${first.host}/team/${SHORT}"\n`);
    const response = await admit(SHORT);
    assert.equal(response.allowed, false, JSON.stringify(response));
    assert.match(response.status?.message ?? '', new RegExp(`${first.host}/team/${SHORT}:latest`));
  });

  it('admits a short name whose alias points at a trusted repository, tag carried over', async () => {
    // docker.io/library/other is rejected by the policy; its alias target is trusted.
    await registriesConf(`[aliases]\n"other" = "${second.host}/team/${SHORT}"\n`);
    assert.equal((await admit('other:v1')).allowed, true);
  });

  it('denies an ambiguous short name in enforcing mode, naming the registries and the file', async () => {
    await registriesConf(
      `short-name-mode = "enforcing"\nunqualified-search-registries = ["${first.host}", "${second.host}"]\n`,
    );
    const response = await admit(`team/${SHORT}:v1`);
    assert.equal(response.allowed, false);
    const message = response.status?.message ?? '';
    assert.match(message, /ambiguous/);
    assert.ok(message.includes(first.host) && message.includes(second.host), message);
    assert.ok(message.includes(join(work, 'registries.conf')), message);
  });

  it('denies a short name with no alias and no search registries', async () => {
    await registriesConf('');
    const response = await admit(`team/${SHORT}:v1`);
    assert.equal(response.allowed, false);
    assert.match(response.status?.message ?? '', /did not resolve to an alias/);
  });

  it('in permissive mode judges the first search registry that has the image, as CRI-O pulls it', async () => {
    await registriesConf(
      `short-name-mode = "permissive"\nunqualified-search-registries = ["${first.host}", "${second.host}"]\n`,
    );
    await pushWithFetch(second.url, `team/${SHORT}`, 'v2', syntheticImage());
    assert.equal((await admit(`team/${SHORT}:v2`)).allowed, true);
    // Someone pushes the same name to the registry searched first: the node would now pull that.
    await pushWithFetch(first.url, `team/${SHORT}`, 'v2', syntheticImage());
    const response = await admit(`team/${SHORT}:v2`);
    assert.equal(response.allowed, false, JSON.stringify(response));
    assert.match(response.status?.message ?? '', new RegExp(`${first.host}/team/${SHORT}:v2`));
  });

  it('does not admit a short name while registries.conf is invalid, and recovers when it is fixed', async () => {
    await registriesConf('short-name-mode = "sometimes"\n');
    const response = await admit(`other:v1`);
    assert.equal(response.allowed, false);
    assert.match(response.status?.message ?? '', /short-name-mode/);
    await registriesConf(`[aliases]\n"other" = "${second.host}/team/${SHORT}"\n`);
    assert.equal((await admit('other:v1')).allowed, true);
  });

  it('cannot tell which candidate the node pulls when the first search registry fails: not admitted', async () => {
    const down = await startRegistry();
    const host = down.host;
    await down.stop();
    await registriesConf(`unqualified-search-registries = ["${host}", "${second.host}"]\n`);
    const response = await admit(`team/${SHORT}:v2`);
    assert.equal(response.allowed, false);
    assert.match(response.status?.message ?? '', /could not be checked/);
  });
});
