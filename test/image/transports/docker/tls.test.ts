// TLS against the real registry serving HTTPS: certs.d CAs, client certificates, --tls-verify=false.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeAllAgents, DockerError } from '../../../../src/image/transports/docker/index.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../../../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { syntheticImage } from '../../../helpers/synthetic-image.ts';

let env: DockerTestEnv;
let pki: string;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore', cwd: pki });
}

before(async () => {
  env = await dockerTestEnv({ plainHttp: false });
  pki = join(env.dir, 'pki');
  await mkdir(pki);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=portcullis test CA',
  );
  await writeFile(join(pki, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await writeFile(join(pki, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const name of ['server', 'client']) {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  }
});
after(async () => {
  await env.cleanup();
  await closeAllAgents();
});

async function certDir(name: string, withClient: boolean): Promise<string> {
  const dir = join(env.dir, name);
  await mkdir(dir, { recursive: true });
  await copyFile(join(pki, 'ca.crt'), join(dir, 'ca.crt'));
  if (withClient) {
    await copyFile(join(pki, 'client.crt'), join(dir, 'client.cert'));
    await copyFile(join(pki, 'client.key'), join(dir, 'client.key'));
  }
  return dir;
}

describe('HTTPS registry', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({
      tls: { certificate: join(pki, 'server.crt'), key: join(pki, 'server.key') },
    });
  });
  after(() => registry.stop());
  const ref = (s: string) => env.transport.parseReference(`//${registry.host}/${s}`);

  it('trusts a CA from the cert directory', async () => {
    const ctx = { ...env.ctx, certDir: await certDir('certs-ca', false) };
    const image = syntheticImage({ layers: 1 });
    await putImage(await ref('tls/img:v1').newImageDestination(ctx), image);
    const src = await ref('tls/img:v1').newImageSource(ctx);
    assert.deepEqual(Buffer.from((await src.getManifest()).manifest), image.manifest);
  });

  it('refuses an unknown CA with TLS_ERROR', async () => {
    await assert.rejects(ref('tls/img:v1').newImageSource(env.ctx), (e: unknown) => {
      assert.ok(e instanceof DockerError);
      assert.equal(e.code, 'TLS_ERROR');
      return true;
    });
  });

  it('skips verification with tlsVerify: false', async () => {
    const src = await ref('tls/img:v1').newImageSource({ ...env.ctx, tlsVerify: false });
    assert.ok((await src.getManifest()).manifest.length > 0);
  });
});

describe('registry requiring client certificates', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({
      tls: {
        certificate: join(pki, 'server.crt'),
        key: join(pki, 'server.key'),
        clientCAs: [join(pki, 'ca.crt')],
      },
    });
  });
  after(() => registry.stop());
  const ref = (s: string) => env.transport.parseReference(`//${registry.host}/${s}`);

  it('presents the client certificate pair from the cert directory', async () => {
    const ctx = { ...env.ctx, certDir: await certDir('certs-client', true) };
    await putImage(await ref('mtls/img:v1').newImageDestination(ctx), syntheticImage({ layers: 1 }));
  });

  it('fails without a client certificate', async () => {
    const ctx = { ...env.ctx, certDir: await certDir('certs-noclient', false) };
    await assert.rejects(ref('mtls/img:v1').newImageSource(ctx), (e: unknown) => e instanceof DockerError);
  });
});
