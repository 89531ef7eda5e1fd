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
  // Access logs: the tests below count what sync asks of each registry.
  f = await startMirrorFixture({ accessLog: true }, { accessLog: true });
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

/**
 * Sigstore discovery on `repo@digest` at the mirror, trusting `publicKey`, for `identity`; a
 * bundle (which binds only the digest) is accepted, as acceptDigestOnlySignatures does.
 */
async function discover(repo: string, digest: Digest, publicKey: string, identity: string) {
  const env = await dockerTestEnv();
  const source = await env.transport
    .parseReference(`//${repo}@${digest}`)
    .newImageSource({ ...env.ctx, registriesDirPath: f.registriesD });
  try {
    const pem = await readFile(publicKey);
    const trust = await compileSigstoreTrust({ keyData: pem.toString('base64') }, () =>
      Promise.reject(new Error('no files')),
    );
    return await discoverSigstoreSignature(source, digest, undefined, trust, {
      matchesManifestDigest: (d) => d === digest,
      matchesDockerReference: (ref) => ref === identity,
      acceptsDigestOnly: true,
    });
  } finally {
    await source.close();
    await env.cleanup();
  }
}

async function evalPolicy(policy: string, image: string) {
  return runCli(
    ['policy', 'eval', '--tls-verify=false', '--policy', policy, '--registries.d', f.registriesD, image],
    f.env,
  );
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
    assert.deepEqual(byName['gpg:v1']?.signatures, { copied: 1, created: 0, referrers: 0, attestations: 0 });
    assert.deepEqual(byName['cosign:v1']?.signatures, {
      copied: 1,
      created: 0,
      referrers: 0,
      attestations: 0,
    });
    assert.deepEqual(byName['bundle:v1']?.signatures, {
      copied: 0,
      created: 0,
      referrers: 1,
      attestations: 0,
    });
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
    const result = await discover(
      `${prefix()}/bundle`,
      digests.bundle!,
      f.originCosignPub,
      `${f.origin.host}/team/bundle:v1`,
    );
    assert.equal(result.accepted?.via, 'referrer-bundle', result.explanation);
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

/** `sync --src docker` of every tag of the origin's `repo` to `prefix` on the mirror. */
function syncRepository(repo: string, prefix: string, extra: readonly string[] = []) {
  return runCli(
    [
      'sync',
      ...tls,
      '--registries.d',
      f.registriesD,
      '--insecure-policy',
      ...extra,
      '--src',
      'docker',
      '--dest',
      'docker',
      `${f.origin.host}/${repo}`,
      `${f.mirror.host}/${prefix}`,
    ],
    f.env,
  );
}

describe('sync --src docker of whole repositories', () => {
  test('signature and referrer-index tags travel with their images, never as images of their own', async () => {
    for (const repo of ['cosign', 'bundle']) {
      const reportFile = join(f.work, `whole-${repo}.json`);
      const r = await syncRepository(`team/${repo}`, 'whole', ['--report', reportFile]);
      assert.equal(r.code, 0, r.stderr);
      const report = await readReport(reportFile);
      assert.ok(
        report.images.every((i) => !/:sha256-/.test(i.source)),
        report.images.map((i) => i.source).join(', '),
      );
      const carried = (await tags(f.mirror.url, `whole/${repo}`)).filter((t) => t.startsWith('sha256-'));
      const digest = digests[repo]!.replace(':', '-');
      assert.deepEqual(carried, [repo === 'cosign' ? `${digest}.sig` : digest]);
    }
  });
});

describe('sync of a repository mixing signed and unsigned images', () => {
  const digests: { signed?: Digest; unsigned: Digest[] } = { unsigned: [] };
  let originLog = '';
  let mirrorLog = '';

  before(async () => {
    digests.signed = await f.pushCosignSigned('team/mixed:signed', { attachment: true, bundle: true });
    digests.unsigned = [await f.pushUnsigned('team/mixed:u1'), await f.pushUnsigned('team/mixed:u2')];
    const originStart = f.origin.log().length;
    const mirrorStart = f.mirror.log().length;
    const r = await syncRepository('team/mixed', 'lean');
    assert.equal(r.code, 0, r.stderr);
    originLog = f.origin.log().slice(originStart);
    mirrorLog = f.mirror.log().slice(mirrorStart);
  });

  test('the tag listing answers for unsigned images: no signature or referrer tag is asked for', () => {
    for (const d of digests.unsigned)
      assert.doesNotMatch(originLog, new RegExp(`/manifests/sha256-${digestHex(d)}`));
  });

  test('the signed image still has its cosign attachment and referrer index read and carried', async () => {
    const tag = `sha256-${digestHex(digests.signed!)}`;
    assert.match(originLog, new RegExp(`"GET /v2/team/mixed/manifests/${tag}\\.sig HTTP`));
    assert.match(originLog, new RegExp(`"GET /v2/team/mixed/manifests/${tag} HTTP`));
    const carried = (await tags(f.mirror.url, 'lean/mixed')).filter((t) => t.startsWith('sha256-'));
    assert.deepEqual(carried.sort(), [tag, `${tag}.sig`]);
  });

  test('an unsigned image is written with one manifest PUT, by tag; a signed one by digest before its tag', () => {
    const puts = mirrorLog
      .split('\n')
      .map((l) => /"PUT \/v2\/lean\/mixed\/manifests\/(\S+) HTTP/.exec(l)?.[1])
      .filter((p) => p !== undefined);
    for (const d of digests.unsigned) assert.ok(!puts.includes(d), `${d} written by digest: ${puts}`);
    assert.equal(puts.filter((p) => p === 'u1' || p === 'u2').length, 2);
    const byDigest = puts.indexOf(digests.signed!);
    assert.ok(byDigest >= 0 && byDigest < puts.indexOf('signed'), puts.join(' '));
  });
});

/** The referrer manifests listed in the mirror's fallback index of `digest` in `repo`. */
async function mirrorReferrers(repo: string, digest: string): Promise<{ subject: { digest: string } }[]> {
  const res = await fetch(`${f.mirror.url}/v2/${repo}/manifests/${digest.replace(':', '-')}`, {
    headers: { accept: 'application/vnd.oci.image.index.v1+json' },
  });
  if (res.status === 404) return [];
  const index = (await res.json()) as { manifests: { digest: string }[] };
  return Promise.all(
    index.manifests.map(async (m) => {
      const r = await fetch(`${f.mirror.url}/v2/${repo}/manifests/${m.digest}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      return (await r.json()) as { subject: { digest: string } };
    }),
  );
}

/** `portcullis copy` between the two registries with the fixture's registries.d. */
function copy(extra: readonly string[], src: string, dest: string) {
  return runCli(
    ['copy', ...tls, '--registries.d', f.registriesD, '--insecure-policy', ...extra, src, dest],
    f.env,
  );
}

describe('copy', () => {
  test('carries the bundle referrer and signs with --sign-by; skopeo verifies the mirror signature', async () => {
    const dest = `${f.mirror.host}/copied/bundle:v1`;
    const r = await copy(
      ['--sign-by', f.mirrorFpr],
      `docker://${f.origin.host}/team/bundle:v1`,
      `docker://${dest}`,
    );
    assert.equal(r.code, 0, r.stderr);
    const referrers = await mirrorReferrers('copied/bundle', digests.bundle!);
    assert.deepEqual(
      referrers.map((m) => m.subject.digest),
      [digests.bundle],
    );
    const policy = join(f.work, 'copied-policy.json');
    await writeFile(
      policy,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: { [dest]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: f.mirrorGpgPub }] },
        },
      }),
    );
    assert.deepEqual(await skopeoAllows(policy, `docker://${dest}`), { ok: true, stderr: '' });
  });

  test('a converted copy points its referrers at the digest written', async () => {
    const digestfile = join(f.work, 'converted.digest');
    const r = await copy(
      ['--format', 'v2s2', '--digestfile', digestfile],
      `docker://${f.origin.host}/team/bundle:v1`,
      `docker://${f.mirror.host}/converted/bundle:v1`,
    );
    assert.equal(r.code, 0, r.stderr);
    const written = (await readFile(digestfile, 'utf8')).trim();
    assert.notEqual(written, digests.bundle);
    const referrers = await mirrorReferrers('converted/bundle', written);
    assert.deepEqual(
      referrers.map((m) => m.subject.digest),
      [written],
    );
    assert.deepEqual(await mirrorReferrers('converted/bundle', digests.bundle!), []);
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
            [`${f.origin.host}/team/cosign`]: [{ type: 'sigstoreSigned', keyPath: f.originCosignPub }],
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
        '--sign-sigstore-bundle',
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
    assert.deepEqual(result['gpg:v1']?.signatures, { copied: 0, created: 3, referrers: 0, attestations: 0 });
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

    // Without the attachment, the mirror's sigstore bundle referrer alone verifies.
    const sigTag = `${f.mirror.url}/v2/resigned/cosign/manifests/${digests.cosign!.replace(':', '-')}.sig`;
    const head = await fetch(sigTag, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    const attachment = head.headers.get('docker-content-digest')!;
    const del = await fetch(`${f.mirror.url}/v2/resigned/cosign/manifests/${attachment}`, {
      method: 'DELETE',
    });
    await del.arrayBuffer();
    assert.equal(del.status, 202);
    const discovered = await discover(
      `${prefix()}/cosign`,
      digests.cosign!,
      f.mirrorCosignPub,
      `${prefix()}/cosign:v1`,
    );
    assert.equal(discovered.accepted?.via, 'referrer-bundle', discovered.explanation);
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

  test('a source that cannot be listed at all is reported with its error and no image', async () => {
    const yaml = join(f.work, 'unlisted.yaml');
    await writeFile(yaml, '127.0.0.1:1:\n  tls-verify: false\n  images-by-tag-regex:\n    team/app: ^v\n');
    const reportFile = join(f.work, 'unlisted.json');
    const r = await sync(['--insecure-policy', '--report', reportFile], yaml, `${f.mirror.host}/unlisted`);
    assert.equal(r.code, 1);
    const report = await readReport(reportFile);
    assert.deepEqual(report.images, []);
    assert.equal(report.summary.images, 0);
    assert.equal(report.error?.code, 'NETWORK', JSON.stringify(report.error));
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

describe('policy eval reads only the signatures its requirements look at', () => {
  let digest: Digest;
  before(async () => {
    digest = await f.pushCosignSigned('team/both:v1', { attachment: true, gpg: true });
  });

  /** Evaluates `requirement` for the image; returns the exit code and the origin's requests. */
  async function evaluated(name: string, requirement: object) {
    const policy = join(f.work, `${name}.json`);
    await writeFile(policy, JSON.stringify({ default: [requirement] }));
    const start = f.origin.log().length;
    const r = await evalPolicy(policy, `docker://${f.origin.host}/team/both:v1`);
    return { ...r, requests: f.origin.log().slice(start) };
  }
  const attachment = () => new RegExp(`GET /v2/team/both/manifests/sha256-${digestHex(digest)}\\.sig HTTP`);

  test('signedBy alone: allowed by the GPG signature, the cosign attachment never fetched', async () => {
    const r = await evaluated('gpg-only', { type: 'signedBy', keyType: 'GPGKeys', keyPath: f.originGpgPub });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.requests, attachment());
  });

  test('sigstoreSigned: the attachment is fetched and allows the image', async () => {
    const r = await evaluated('cosign', { type: 'sigstoreSigned', keyPath: f.originCosignPub });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.requests, attachment());
  });
});
