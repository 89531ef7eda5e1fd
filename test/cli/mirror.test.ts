// Mirroring with signatures between two real Distribution registries: sync carries GPG lookaside
// signatures, cosign attachments and sigstore bundle referrers; the mirror verifies under a
// remapIdentity policy (portcullis policy eval and skopeo agree); tampered copies are denied;
// --policy rejects on the way in, --sign-by / --sign-by-sigstore-private-key re-sign; failures
// are reported per image and never leave a tag behind.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { SyncReport } from '../../src/cli/sync-report.ts';
import { type Digest, digestHex, digestOf } from '../../src/image/digest.ts';
import { discoverSigstoreSignature } from '../../src/image/signature/sigstore/discovery.ts';
import { compileSigstoreTrust } from '../../src/image/signature/sigstore/trust.ts';
import { closeAllAgents } from '../../src/image/transports/docker/index.ts';
import { runCli } from '../helpers/cli.ts';
import { dockerTestEnv } from '../helpers/docker-env.ts';
import { type MirrorFixture, startMirrorFixture } from '../helpers/mirror-fixture.ts';
import { startRegistry } from '../helpers/registry.ts';

const run = promisify(execFile);

let f: MirrorFixture;
const digests: Record<string, Digest> = {};

before(async () => {
  f = await startMirrorFixture();
  digests.gpg = await f.pushGpgSigned('team/gpg:v1');
  digests.cosign = await f.pushCosignSigned('team/cosign:v1', { attachment: true });
  digests.bundle = await f.pushCosignSigned('team/bundle:v1', { bundle: true });
  digests.unsigned = await f.pushUnsigned('team/unsigned:v1');
  // A signature that no longer verifies: the GPG signature of another image, copied next to this one.
  digests.forged = await f.pushUnsigned('team/forged:v1');
  const lookaside = (name: string, d: Digest) =>
    join(f.originLookaside, 'team', `${name}@sha256=${digestHex(d)}`);
  await mkdir(lookaside('forged', digests.forged), { recursive: true });
  await copyFile(
    join(lookaside('gpg', digests.gpg), 'signature-1'),
    join(lookaside('forged', digests.forged), 'signature-1'),
  );
});
after(async () => {
  await f.stop();
  await closeAllAgents();
});

const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];

/** A sync YAML selecting `repos` (each `team/<name>`, tag v1) on the origin. */
async function yamlFor(name: string, repos: readonly string[]): Promise<string> {
  const path = join(f.work, `${name}.yaml`);
  const images = repos.map((r) => `    team/${r}: ["v1"]\n`).join('');
  await writeFile(path, `${f.origin.host}:\n  tls-verify: false\n  images:\n${images}`);
  return path;
}

async function sync(args: readonly string[], yaml: string, dest: string) {
  return runCli(f.syncArgs(args, yaml, dest), f.env);
}

async function readReport(path: string): Promise<SyncReport> {
  return JSON.parse(await readFile(path, 'utf8')) as SyncReport;
}

/** Tags of a mirror repository, [] when it does not exist. */
async function tags(registryUrl: string, repo: string, authorization?: string): Promise<string[]> {
  const res = await fetch(`${registryUrl}/v2/${repo}/tags/list`, {
    headers: authorization === undefined ? {} : { authorization },
  });
  if (res.status === 404) return [];
  assert.equal(res.status, 200);
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

/** policy.json for the mirror: images under `mirror` verify against origin signatures (remapIdentity). */
async function remapPolicy(mirrorPrefix: string): Promise<string> {
  const path = join(f.work, `policy-${mirrorPrefix.replaceAll(/[/:]/g, '-')}.json`);
  await writeFile(path, JSON.stringify(f.remapPolicy(mirrorPrefix, { gpg: ['gpg'], cosign: ['cosign'] })));
  return path;
}

async function evalPolicy(policy: string, image: string) {
  return runCli(['policy', 'eval', '--policy', policy, '--registries.d', f.registriesD, image], f.env);
}

/** skopeo verifies the policy on the source of a copy; exit 0 means the image was allowed. */
async function skopeoAllows(policy: string, image: string): Promise<{ ok: boolean; stderr: string }> {
  const out = join(f.work, `skopeo-${Math.random()}`);
  try {
    await run(
      'skopeo',
      [
        '--policy',
        policy,
        '--registries.d',
        f.registriesD,
        'copy',
        '--src-tls-verify=false',
        image,
        `dir:${out}`,
      ],
      { env: f.env },
    );
    return { ok: true, stderr: '' };
  } catch (err) {
    return { ok: false, stderr: String((err as { stderr?: unknown }).stderr ?? err) };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** Replaces the mirror's tag with a changed manifest and moves the signatures along (an attacker's copy). */
async function tamper(repo: string, digest: Digest): Promise<Digest> {
  const url = `${f.mirror.url}/v2/${repo}/manifests/${digest}`;
  const res = await fetch(url, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const manifest = JSON.parse(await res.text()) as Record<string, unknown>;
  const changed = Buffer.from(JSON.stringify({ ...manifest, annotations: { tampered: 'yes' } }));
  const put = await fetch(`${f.mirror.url}/v2/${repo}/manifests/v1`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: changed,
  });
  await put.arrayBuffer();
  assert.equal(put.status, 201);
  const forged = digestOf(changed);
  const path = repo.slice(repo.indexOf('/') + 1);
  const from = join(f.mirrorLookaside, `${path}@sha256=${digestHex(digest)}`);
  const to = join(f.mirrorLookaside, `${path}@sha256=${digestHex(forged)}`);
  await mkdir(to, { recursive: true }).catch(() => undefined);
  await copyFile(join(from, 'signature-1'), join(to, 'signature-1')).catch(() => undefined);
  const sig = await fetch(`${f.mirror.url}/v2/${repo}/manifests/${digest.replace(':', '-')}.sig`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (sig.status === 200) {
    const again = await fetch(`${f.mirror.url}/v2/${repo}/manifests/${forged.replace(':', '-')}.sig`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: Buffer.from(await sig.arrayBuffer()),
    });
    await again.arrayBuffer();
    assert.equal(again.status, 201);
  } else await sig.arrayBuffer();
  return forged;
}

describe('sync carries signatures to a mirror', () => {
  const prefix = () => `${f.mirror.host}/carried`;
  let report: SyncReport;

  before(async () => {
    const reportFile = join(f.work, 'carried.json');
    const r = await sync(
      ['--report', reportFile],
      await yamlFor('carried', ['gpg', 'cosign', 'bundle']),
      prefix(),
    );
    assert.equal(r.code, 0, r.stderr);
    report = await readReport(reportFile);
  });

  test('the report lists every image with its digest and the signatures carried', () => {
    const byName = Object.fromEntries(report.images.map((i) => [i.destination.split('/').pop(), i]));
    assert.deepEqual(report.summary, {
      images: 3,
      copied: 3,
      skipped: 0,
      rejected: 0,
      failed: 0,
      'not-attempted': 0,
    });
    assert.deepEqual(byName['gpg:v1']?.signatures, { copied: 1, created: 0, referrers: 0 });
    assert.deepEqual(byName['cosign:v1']?.signatures, { copied: 1, created: 0, referrers: 0 });
    assert.deepEqual(byName['bundle:v1']?.signatures, { copied: 0, created: 0, referrers: 1 });
    assert.equal(byName['gpg:v1']?.digest, digests.gpg);
    assert.equal(byName['gpg:v1']?.source, `docker://${f.origin.host}/team/gpg:v1`);
  });

  test('a GPG-signed image verifies at the mirror under remapIdentity, in portcullis and skopeo', async () => {
    const policy = await remapPolicy(prefix());
    const image = `docker://${prefix()}/gpg:v1`;
    const r = await evalPolicy(policy, image);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await skopeoAllows(policy, image), { ok: true, stderr: '' });
  });

  test('a cosign-signed image verifies at the mirror under remapIdentity', async () => {
    const r = await evalPolicy(await remapPolicy(prefix()), `docker://${prefix()}/cosign:v1`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('the sigstore bundle referrer is listed in the mirror fallback index, unchanged, and verifies', async () => {
    const res = await fetch(
      `${f.mirror.url}/v2/carried/bundle/manifests/${digests.bundle!.replace(':', '-')}`,
      { headers: { accept: 'application/vnd.oci.image.index.v1+json' } },
    );
    assert.equal(res.status, 200);
    const index = (await res.json()) as { manifests: { digest: string; artifactType?: string }[] };
    const origin = await fetch(
      `${f.origin.url}/v2/team/bundle/manifests/${digests.bundle!.replace(':', '-')}`,
      { headers: { accept: 'application/vnd.oci.image.index.v1+json' } },
    );
    const originIndex = (await origin.json()) as { manifests: { digest: string }[] };
    assert.deepEqual(
      index.manifests.map((m) => m.digest),
      originIndex.manifests.map((m) => m.digest),
      'same referrer digest: the subject is unchanged',
    );
    const env = await dockerTestEnv();
    const source = await env.transport
      .parseReference(`//${prefix()}/bundle@${digests.bundle}`)
      .newImageSource({ ...env.ctx, registriesDirPath: f.registriesD });
    try {
      const pem = await readFile(f.originCosignPub);
      const trust = await compileSigstoreTrust({ keyData: pem.toString('base64') }, () =>
        Promise.reject(new Error('no files')),
      );
      const result = await discoverSigstoreSignature(source, digests.bundle!, undefined, trust, {
        matchesManifestDigest: (d) => d === digests.bundle,
        matchesDockerReference: (ref) => ref === `${f.origin.host}/team/bundle:v1`,
      });
      assert.equal(result.accepted?.via, 'referrer-bundle', result.explanation);
    } finally {
      await source.close();
      await env.cleanup();
    }
  });

  test('a second sync skips every image and carries nothing twice', async () => {
    const reportFile = join(f.work, 'carried-again.json');
    const r = await sync(
      ['--report', reportFile],
      await yamlFor('carried', ['gpg', 'cosign', 'bundle']),
      prefix(),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await readReport(reportFile)).summary.skipped, 3);
  });

  test('tampered mirror copies are denied even with the signatures moved along', async () => {
    const policy = await remapPolicy(prefix());
    await tamper('carried/gpg', digests.gpg!);
    await tamper('carried/cosign', digests.cosign!);
    const gpg = await evalPolicy(policy, `docker://${prefix()}/gpg:v1`);
    assert.equal(gpg.code, 1, gpg.stdout + gpg.stderr);
    assert.match(gpg.stdout, /^denied:/);
    const cosign = await evalPolicy(policy, `docker://${prefix()}/cosign:v1`);
    assert.equal(cosign.code, 1, cosign.stdout + cosign.stderr);
    const skopeo = await skopeoAllows(policy, `docker://${prefix()}/gpg:v1`);
    assert.equal(skopeo.ok, false);
    assert.match(skopeo.stderr, /rejected|not accepted|does not match/i);
  });
});

describe('sync verifies on the way in and re-signs with the mirror keys', () => {
  const prefix = () => `${f.mirror.host}/resigned`;

  test('--policy rejects per image, --keep-going copies the rest, re-signed copies verify with the mirror keys only', async () => {
    const originPolicy = join(f.work, 'origin-policy.json');
    await writeFile(
      originPolicy,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`${f.origin.host}/team/gpg`]: [
              { type: 'signedBy', keyType: 'GPGKeys', keyPath: f.originGpgPub },
            ],
            [`${f.origin.host}/team/forged`]: [
              { type: 'signedBy', keyType: 'GPGKeys', keyPath: f.originGpgPub },
            ],
            [`${f.origin.host}/team/cosign`]: [{ type: 'insecureAcceptAnything' }],
          },
        },
      }),
    );
    const reportFile = join(f.work, 'resigned.json');
    const r = await sync(
      [
        '--policy',
        originPolicy,
        '--keep-going',
        '--remove-signatures',
        '--sign-by',
        f.mirrorFpr,
        '--sign-by-sigstore-private-key',
        f.mirrorCosignKey,
        '--sign-passphrase-file',
        f.passphraseFile,
        '--report',
        reportFile,
      ],
      await yamlFor('resigned', ['gpg', 'cosign', 'unsigned', 'forged']),
      prefix(),
    );
    assert.equal(r.code, 1, 'a rejected image fails the sync');
    const report = await readReport(reportFile);
    const result = Object.fromEntries(report.images.map((i) => [i.destination.split('/').pop(), i]));
    assert.equal(result['gpg:v1']?.result, 'copied');
    assert.equal(result['cosign:v1']?.result, 'copied', JSON.stringify(result['cosign:v1']));
    assert.deepEqual(result['gpg:v1']?.signatures, { copied: 0, created: 2, referrers: 0 });
    for (const bad of ['unsigned:v1', 'forged:v1']) {
      assert.equal(result[bad]?.result, 'rejected', JSON.stringify(result[bad]));
      assert.equal(result[bad]?.error?.code, 'SOURCE_REJECTED');
      assert.match(r.stderr, new RegExp(`Error copying ref .*team/${bad}`));
    }
    assert.deepEqual(await tags(f.mirror.url, 'resigned/unsigned'), []);
    assert.deepEqual(await tags(f.mirror.url, 'resigned/forged'), []);

    const mirrorPolicy = join(f.work, 'mirror-policy.json');
    await writeFile(
      mirrorPolicy,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`${prefix()}/gpg`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: f.mirrorGpgPub }],
            [`${prefix()}/cosign`]: [{ type: 'sigstoreSigned', keyPath: f.mirrorCosignPub }],
          },
        },
      }),
    );
    const gpg = await evalPolicy(mirrorPolicy, `docker://${prefix()}/gpg:v1`);
    assert.equal(gpg.code, 0, gpg.stdout + gpg.stderr);
    assert.deepEqual(await skopeoAllows(mirrorPolicy, `docker://${prefix()}/gpg:v1`), {
      ok: true,
      stderr: '',
    });
    const cosign = await evalPolicy(mirrorPolicy, `docker://${prefix()}/cosign:v1`);
    assert.equal(cosign.code, 0, cosign.stdout + cosign.stderr);
    // The origin signatures were removed: the origin keys no longer verify the mirror copies.
    const origin = await evalPolicy(await remapPolicy(prefix()), `docker://${prefix()}/gpg:v1`);
    assert.equal(origin.code, 1, origin.stdout);
  });
});

describe('bad input is reported per image and never tagged', () => {
  test('a source blob that disappears mid-sync fails that image only; nothing is tagged for it', async () => {
    const gone = await f.pushUnsigned('team/vanishing:v1');
    await f.pushUnsigned('team/stays:v1');
    const manifest = (await (
      await fetch(`${f.origin.url}/v2/team/vanishing/manifests/${gone}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json()) as { layers: { digest: string }[] };
    const del = await fetch(`${f.origin.url}/v2/team/vanishing/blobs/${manifest.layers[1]!.digest}`, {
      method: 'DELETE',
    });
    await del.arrayBuffer();
    assert.equal(del.status, 202);
    const reportFile = join(f.work, 'vanishing.json');
    const r = await sync(
      ['--keep-going', '--insecure-policy', '--parallel-images', '1', '--report', reportFile],
      await yamlFor('vanishing', ['vanishing', 'stays']),
      `${f.mirror.host}/bad`,
    );
    assert.equal(r.code, 1);
    const report = await readReport(reportFile);
    assert.deepEqual(
      report.images.map((i) => [i.destination.split('/').pop(), i.result]),
      [
        ['vanishing:v1', 'failed'],
        ['stays:v1', 'copied'],
      ],
    );
    assert.equal(report.images[0]?.error?.code, 'BLOB_UNKNOWN');
    assert.deepEqual(await tags(f.mirror.url, 'bad/vanishing'), []);
    assert.deepEqual(await tags(f.mirror.url, 'bad/stays'), ['v1']);
  });

  test('without --keep-going the first failure stops the sync and the rest is reported not attempted', async () => {
    const reportFile = join(f.work, 'stop.json');
    const r = await sync(
      ['--insecure-policy', '--parallel-images', '1', '--report', reportFile],
      await yamlFor('stop', ['vanishing', 'gpg']),
      `${f.mirror.host}/stop`,
    );
    assert.equal(r.code, 1);
    const report = await readReport(reportFile);
    assert.deepEqual(
      report.images.map((i) => i.result),
      ['failed', 'not-attempted'],
    );
    assert.deepEqual(await tags(f.mirror.url, 'stop/gpg'), []);
  });

  test('a signature store that fails after the manifest leaves the manifest untagged', async () => {
    const registriesD = join(f.work, 'broken.d');
    await mkdir(registriesD, { recursive: true });
    const blocker = join(f.work, 'not-a-directory');
    await writeFile(blocker, 'x');
    await writeFile(
      join(registriesD, 'broken.yaml'),
      `docker:\n  ${f.origin.host}:\n    lookaside: file://${f.originLookaside}\n  ${f.mirror.host}:\n    lookaside: file://${blocker}\n`,
    );
    const r = await runCli(
      [
        'sync',
        ...tls,
        '--registries.d',
        registriesD,
        '--insecure-policy',
        '--src',
        'yaml',
        '--dest',
        'docker',
        await yamlFor('broken', ['gpg']),
        `${f.mirror.host}/broken`,
      ],
      f.env,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error copying ref .*team\/gpg:v1/);
    assert.deepEqual(await tags(f.mirror.url, 'broken/gpg'), []);
  });
});

describe('a destination that refuses pushes', () => {
  test('every image fails with the registry error, the sync exits 1, no tag appears', async () => {
    const locked = await startRegistry({ users: { mirror: 'right' } });
    try {
      const reportFile = join(f.work, 'locked.json');
      const r = await sync(
        ['--insecure-policy', '--keep-going', '--dest-creds', 'mirror:wrong', '--report', reportFile],
        await yamlFor('locked', ['gpg', 'cosign']),
        `${locked.host}/locked`,
      );
      assert.equal(r.code, 1);
      const report = await readReport(reportFile);
      assert.deepEqual(report.summary.failed, 2);
      for (const image of report.images)
        assert.equal(image.error?.code, 'UNAUTHORIZED', image.error?.message);
      const auth = `Basic ${Buffer.from('mirror:right').toString('base64')}`;
      assert.deepEqual(await tags(locked.url, 'locked/gpg', auth), []);
      assert.deepEqual(await tags(locked.url, 'locked/cosign', auth), []);
    } finally {
      await locked.stop();
    }
  });
});
