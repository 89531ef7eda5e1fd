import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseSemverConstraint } from '../../src/cli/sync-config.ts';
import { digestOf } from '../../src/image/digest.ts';
import { runCli } from '../helpers/cli.ts';
import { syntheticImage, writeOciLayout } from '../helpers/images.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { skopeo } from '../helpers/skopeo.ts';

const tags = ['1.0.0', '1.2.0', '2.0.0', '1.5.0-rc1', 'latest'];
let root: string;
let registry: TestRegistry;
const digests = new Map<string, string>();

/** The digest of the manifest the registry serves for `image` (host/repo:tag), read by skopeo. */
async function pushedDigest(image: string): Promise<string> {
  return digestOf(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${image}`));
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cli-sync-'));
  registry = await startRegistry({ accessLog: true });
  for (const tag of tags) {
    const image = syntheticImage({ layers: 1 });
    const layout = join(root, `src-${tag}`);
    await writeOciLayout(layout, { t: image });
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${layout}:t`,
      `docker://${registry.host}/src/app:${tag}`,
    );
    digests.set(tag, image.manifestDigest);
  }
});
after(async () => {
  await registry.stop();
  await rm(root, { recursive: true, force: true });
});

const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];

/** `sync --src docker --dest docker` of `source` (a repository or an image) to `prefix`, on one registry. */
function syncWithin(source: string, prefix: string, extra: readonly string[] = []) {
  return runCli([
    'sync',
    ...tls,
    '--src',
    'docker',
    '--dest',
    'docker',
    ...extra,
    `${registry.host}/${source}`,
    `${registry.host}/${prefix}`,
  ]);
}

/** skopeo copies `from` to `to` (repository:tag) on the test registry. */
function copyWithin(from: string, to: string) {
  return skopeo(
    'copy',
    '--quiet',
    ...tls,
    `docker://${registry.host}/${from}`,
    `docker://${registry.host}/${to}`,
  );
}

describe('portcullis sync', () => {
  test('docker -> docker copies every tag of a repository, then skips them all by HEAD', async () => {
    const digestfile = join(root, 'digests');
    const r = await syncWithin('src/app', 'mirror', ['--digestfile', digestfile]);
    assert.equal(r.code, 0, r.stderr);
    for (const tag of tags) {
      assert.equal(await pushedDigest(`${registry.host}/mirror/app:${tag}`), digests.get(tag));
    }
    const lines = (await readFile(digestfile, 'utf8')).trim().split('\n');
    assert.equal(lines.length, tags.length);
    assert.ok(lines.every((l) => /^sha256:[0-9a-f]{64} docker:\/\/.+\/mirror\/app:/.test(l)));
    const before = registry.log().length;
    const again = await syncWithin('src/app', 'mirror');
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.split('\n').filter((l) => l.startsWith('Skipping')).length, tags.length);
    const newLog = registry.log().slice(before);
    assert.doesNotMatch(
      newLog,
      /"GET \/v2\/mirror\/app\/manifests/,
      'destination manifests are never pulled',
    );
  });

  test('the destination repository is listed once: only tags already there are HEADed', async () => {
    await copyWithin('src/app:latest', 'listed/app:latest');
    const start = registry.log().length;
    const r = await syncWithin('src/app', 'listed');
    assert.equal(r.code, 0, r.stderr);
    const log = registry.log().slice(start);
    const heads = [...log.matchAll(/"HEAD \/v2\/listed\/app\/manifests\/(\S+) HTTP/g)].map((m) => m[1]);
    assert.deepEqual(heads, ['latest']);
    assert.equal(log.match(/"GET \/v2\/listed\/app\/tags\/list HTTP/g)?.length, 1);
    assert.match(r.stdout, /^Skipping .*:latest: image already present/m);
    for (const tag of tags) {
      assert.equal(await pushedDigest(`${registry.host}/listed/app:${tag}`), digests.get(tag));
    }
  });

  test('a destination repository with more than 100 tags per image synced is probed, not listed', async () => {
    await copyWithin('src/app:latest', 'crowded/app:t0');
    const manifest = await fetch(`${registry.url}/v2/crowded/app/manifests/t0`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    const bytes = Buffer.from(await manifest.arrayBuffer());
    for (let i = 1; i <= 100; i++) {
      const put = await fetch(`${registry.url}/v2/crowded/app/manifests/t${i}`, {
        method: 'PUT',
        headers: { 'content-type': manifest.headers.get('content-type') ?? '' },
        body: bytes,
      });
      await put.arrayBuffer();
      assert.equal(put.status, 201);
    }
    const start = registry.log().length;
    const r = await syncWithin('src/app:1.0.0', 'crowded');
    assert.equal(r.code, 0, r.stderr);
    assert.match(registry.log().slice(start), /"HEAD \/v2\/crowded\/app\/manifests\/1\.0\.0 HTTP/);
    assert.equal(await pushedDigest(`${registry.host}/crowded/app:1.0.0`), digests.get('1.0.0'));
  });

  test('blobs are not looked for in a repository without tags, except those the sync put there', async () => {
    for (const tag of ['a', 'b']) await copyWithin('src/app:1.0.0', `shared/app:${tag}`);
    const start = registry.log().length;
    const r = await syncWithin('shared/app', 'fresh', ['--parallel-images', '1']);
    assert.equal(r.code, 0, r.stderr);
    const log = registry.log().slice(start);
    // Uploaded, or mounted from a repository an earlier test's sync put them in.
    const arrived = [
      ...log.matchAll(/"PUT \/v2\/fresh\/app\/blobs\/uploads\/\S*digest=sha256%3A([a-f0-9]{64})/g),
      ...log.matchAll(
        /"POST \/v2\/fresh\/app\/blobs\/uploads\/\?mount=sha256%3A([a-f0-9]{64})\S* HTTP\/1.1" 201/g,
      ),
    ].map((m) => m[1]);
    // The second tag's blobs (the same image) are found where the first one's copy put them.
    assert.equal(arrived.length, 2);
    const heads = [...log.matchAll(/"HEAD \/v2\/fresh\/app\/blobs\/sha256:([a-f0-9]{64}) HTTP\/1.1" (\d+)/g)];
    assert.deepEqual(heads.map((m) => [m[1], m[2]]).sort(), arrived.map((d) => [d, '200']).sort());
    assert.equal(await pushedDigest(`${registry.host}/fresh/app:b`), digests.get('1.0.0'));
  });

  test('docker -> dir matches skopeo sync output; an existing destination directory is refused', async () => {
    const ours = join(root, 'ours');
    const theirs = join(root, 'theirs');
    const r = await runCli([
      'sync',
      '--src-tls-verify=false',
      '--scoped',
      '--src',
      'docker',
      '--dest',
      'dir',
      `${registry.host}/src/app:1.0.0`,
      ours,
    ]);
    assert.equal(r.code, 0, r.stderr);
    await skopeo(
      'sync',
      '--src-tls-verify=false',
      '--scoped',
      '--src',
      'docker',
      '--dest',
      'dir',
      `${registry.host}/src/app:1.0.0`,
      theirs,
    );
    const path = `${registry.host}/src/app:1.0.0`;
    assert.deepEqual(
      await readFile(join(ours, path, 'manifest.json')),
      await readFile(join(theirs, path, 'manifest.json')),
    );
    assert.deepEqual((await readdir(join(ours, path))).sort(), (await readdir(join(theirs, path))).sort());
    const refused = await runCli([
      'sync',
      '--src-tls-verify=false',
      '--scoped',
      '--src',
      'docker',
      '--dest',
      'dir',
      `${registry.host}/src/app:1.0.0`,
      ours,
    ]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refusing to overwrite/);
  });

  test('dir -> docker pushes every image directory found under SOURCE', async () => {
    const base = join(root, 'dirsrc');
    await mkdir(join(base, 'nested'), { recursive: true });
    await skopeo(
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      `docker://${registry.host}/src/app:1.0.0`,
      `dir:${join(base, 'one')}`,
    );
    await skopeo(
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      `docker://${registry.host}/src/app:2.0.0`,
      `dir:${join(base, 'nested', 'two')}`,
    );
    const r = await runCli([
      'sync',
      '--dest-tls-verify=false',
      '--src',
      'dir',
      '--dest',
      'docker',
      base,
      `${registry.host}/fromdir`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await pushedDigest(`${registry.host}/fromdir/one:latest`), digests.get('1.0.0'));
    assert.equal(await pushedDigest(`${registry.host}/fromdir/two:latest`), digests.get('2.0.0'));
  });

  test('yaml: explicit tags, tag regex and semver constraints select like skopeo', async () => {
    const yaml = join(root, 'sync.yaml');
    await writeFile(
      yaml,
      `${registry.host}:\n  tls-verify: false\n  images:\n    src/app: ["latest"]\n  images-by-tag-regex:\n    src/app: ^1\\.2\n  images-by-semver:\n    src/app: ">= 1.1, < 3"\n`,
    );
    const r = await runCli([
      'sync',
      '--dest-tls-verify=false',
      '--dry-run',
      '--src',
      'yaml',
      '--dest',
      'docker',
      yaml,
      `${registry.host}/y`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const planned = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('Would have copied'))
      .map((l) => l.split(' to ')[1]);
    assert.deepEqual(planned.sort(), [
      `docker://${registry.host}/y/app:1.2.0`,
      `docker://${registry.host}/y/app:1.2.0`,
      `docker://${registry.host}/y/app:2.0.0`,
      `docker://${registry.host}/y/app:latest`,
    ]);
    const real = await runCli([
      'sync',
      '--dest-tls-verify=false',
      '--src',
      'yaml',
      '--dest',
      'docker',
      yaml,
      `${registry.host}/y`,
    ]);
    assert.equal(real.code, 0, real.stderr);
    await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/y/app:2.0.0`);
  });

  test('--keep-going copies what it can and exits 1; without it the first error stops the sync', async () => {
    const yaml = join(root, 'bad.yaml');
    await writeFile(
      yaml,
      `${registry.host}:\n  tls-verify: false\n  images:\n    src/app: ["1.0.0", "missing", "2.0.0"]\n`,
    );
    const r = await runCli([
      'sync',
      '--dest-tls-verify=false',
      '--keep-going',
      '--src',
      'yaml',
      '--dest',
      'docker',
      yaml,
      `${registry.host}/kg`,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing/);
    await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/kg/app:2.0.0`);
  });

  const usage: [string, string[]][] = [
    ['no --src', ['sync', '--dest', 'dir', 'a', 'b']],
    ['bad --dest', ['sync', '--src', 'docker', '--dest', 'oci', 'a', 'b']],
    ['dir to dir', ['sync', '--src', 'dir', '--dest', 'dir', 'a', 'b']],
  ];
  for (const [name, argv] of usage) {
    test(`usage error: ${name}`, async () => {
      assert.equal((await runCli(argv)).code, 2);
    });
  }
});

describe('semver constraints (Masterminds/semver subset)', () => {
  const cases: [string, string, boolean][] = [
    ['>= 1.1, < 3', '1.2.0', true],
    ['>= 1.1, < 3', '3.0.0', false],
    ['>= 1.1, < 3', '1.5.0-rc1', false],
    ['>= 1.5.0-rc0', '1.5.0-rc1', true],
    ['~1.2', '1.2.9', true],
    ['~1.2', '1.3.0', false],
    ['^1.2.3', '1.9.0', true],
    ['^1.2.3', '2.0.0', false],
    ['^0.2.3', '0.3.0', false],
    ['1.x', '1.7.1', true],
    ['1.x', '2.0.0', false],
    ['< 1 || >= 2', '0.9.0', true],
    ['< 1 || >= 2', '1.5.0', false],
    ['1.0 - 1.4', '1.4.0', true],
    ['!= 1.0.0', '1.0.0', false],
    ['>= 1', 'v1.2', true],
    ['>= 1', 'latest', false],
  ];
  for (const [constraint, tag, ok] of cases) {
    test(`${JSON.stringify(constraint)} ${ok ? 'matches' : 'rejects'} ${tag}`, () => {
      assert.equal(parseSemverConstraint(constraint).check(tag), ok);
    });
  }
});
