// `copy --sign-by-sigstore-private-key`: the real copy engine, with sigstoreCopySigner, pushes to
// a loopback registry; the attachment it writes verifies here and (when built) with cosign.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { copyImage } from '../../../../src/image/copy/index.ts';
import type { Digest } from '../../../../src/image/digest.ts';
import { manifestDigest } from '../../../../src/image/manifest/index.ts';
import {
  compileSigstoreTrust,
  discoverSigstoreSignature,
  generateSigstoreKeyPair,
  sigstoreCopySigner,
} from '../../../../src/image/signature/sigstore/index.ts';
import { defaultTransportRegistry } from '../../../../src/image/transports/all.ts';
import { closeAllAgents } from '../../../../src/image/transports/docker/index.ts';
import { type DockerTestEnv, dockerTestEnv } from '../../../helpers/docker-env.ts';
import { syntheticImage, writeOciLayout } from '../../../helpers/images.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';

const cosign = fileURLToPath(new URL('../../../../.cache/tools/cosign', import.meta.url));
const PASS = 'copy passphrase';

let dir: string;
let registry: TestRegistry;
let env: DockerTestEnv;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-copy-sign-'));
  registry = await startRegistry();
  env = await dockerTestEnv();
});
after(async () => {
  await registry.stop();
  await env.cleanup();
  await closeAllAgents();
  await rm(dir, { recursive: true, force: true });
});

describe('copy with a sigstore signer', () => {
  test('writes a cosign attachment for the destination that verifies here and with cosign', async (t) => {
    const image = syntheticImage();
    await writeOciLayout(join(dir, 'src'), { v1: image });
    const pair = await generateSigstoreKeyPair(new TextEncoder().encode(PASS));
    await writeFile(join(dir, 'signing.pub'), pair.publicKeyPem);
    const signer = await sigstoreCopySigner(pair.privateKeyPem, new TextEncoder().encode(PASS));
    const destName = `${registry.host}/copy/signed:v1`;
    const dest = env.transport.parseReference(`//${destName}`);
    await copyImage(dest, defaultTransportRegistry().parseImageName(`oci:${join(dir, 'src')}:v1`), {
      destCtx: env.ctx,
      signers: [signer],
    });

    const source = await dest.newImageSource(env.ctx);
    let digest: Digest;
    try {
      digest = manifestDigest((await source.getManifest()).manifest);
      const trust = await compileSigstoreTrust(
        { keyData: Buffer.from(pair.publicKeyPem).toString('base64') },
        () => Promise.reject(new Error('no files')),
      );
      const result = await discoverSigstoreSignature(source, digest, undefined, trust, {
        matchesManifestDigest: (d) => d === digest,
        matchesDockerReference: (r) => r === destName,
      });
      assert.equal(result.accepted?.via, 'attachment', result.explanation);
      assert.ok(result.accepted?.via === 'attachment');
      assert.match(result.accepted.accepted.payload.creator ?? '', /^portcullis/);
    } finally {
      await source.close();
    }

    if (!existsSync(cosign)) {
      t.skip(`cosign not built at ${cosign}`);
      return;
    }
    const { stdout } = await promisify(execFile)(
      cosign,
      [
        'verify',
        '--key',
        join(dir, 'signing.pub'),
        '--insecure-ignore-tlog=true',
        '--allow-insecure-registry',
      ].concat(['--allow-http-registry', `${registry.host}/copy/signed@${digest}`]),
      { env: { ...process.env, COSIGN_YES: 'true' } },
    );
    assert.match(stdout, new RegExp(`"docker-reference":"${destName.replace(/[.]/g, '\\.')}"`));
  });
});
