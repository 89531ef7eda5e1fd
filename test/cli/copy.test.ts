import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { syntheticImage, writeOciLayout } from '../helpers/images.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { skopeo } from '../helpers/skopeo.ts';

let root: string;
let layout: string;
let image: ReturnType<typeof syntheticImage>;
let registry: TestRegistry;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cli-copy-'));
  layout = join(root, 'src');
  image = syntheticImage({ layers: 2 });
  await writeOciLayout(layout, { v1: image });
  registry = await startRegistry();
});
after(async () => {
  await registry.stop();
  await rm(root, { recursive: true, force: true });
});

describe('portcullis copy', () => {
  test('prints skopeo lines when not on a TTY and writes --digestfile', async () => {
    const digestfile = join(root, 'digest');
    const r = await runCli([
      'copy',
      '--digestfile',
      digestfile,
      `oci:${layout}:v1`,
      `dir:${join(root, 'd1')}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], 'Getting image source signatures');
    assert.equal(lines.filter((l) => /^Copying blob sha256:[0-9a-f]{64}$/.test(l)).length, 2);
    assert.match(lines.at(-3)!, /^Copying config sha256:/);
    assert.deepEqual(lines.slice(-2), ['Writing manifest to image destination', 'Storing signatures']);
    assert.equal(await readFile(digestfile, 'utf8'), image.manifestDigest);
  });

  test('--quiet prints nothing', async () => {
    const r = await runCli(['copy', '--quiet', `oci:${layout}:v1`, `dir:${join(root, 'd2')}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
  });

  test('to and from a registry; skopeo reads what we pushed, we read what skopeo pushed', async () => {
    const ours = `docker://${registry.host}/cli/ours:v1`;
    const r = await runCli(['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:v1`, ours]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await skopeo('inspect', '--raw', '--tls-verify=false', ours), image.manifest.toString());
    const theirs = `docker://${registry.host}/cli/theirs:v1`;
    await skopeo('copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:v1`, theirs);
    const back = join(root, 'back');
    const r2 = await runCli(['copy', '--quiet', '--src-tls-verify=false', theirs, `oci:${back}:x`]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(await skopeo('inspect', '--raw', `oci:${back}:x`), image.manifest.toString());
    const r3 = await runCli([
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      ours,
      `docker://${registry.host}/cli/mounted:v2`,
    ]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.match(r3.stdout, /skipped: already exists/);
  });

  const usage: [string, string[]][] = [
    ['one argument', ['copy', 'oci:/x']],
    ['unknown --format', ['copy', '--format', 'v2s1', 'oci:/x:y', 'dir:/z']],
    ['--all with --multi-arch', ['copy', '--all', '--multi-arch', 'system', 'oci:/x:y', 'dir:/z']],
    [
      '--src-creds with --src-username',
      ['copy', '--src-creds', 'a:b', '--src-username', 'a', 'oci:/x:y', 'dir:/z'],
    ],
    ['bad --image-parallel-copies', ['copy', '--image-parallel-copies', '0', 'oci:/x:y', 'dir:/z']],
  ];
  for (const [name, argv] of usage) {
    test(`usage error (exit 2): ${name}`, async () => {
      const r = await runCli(argv);
      assert.equal(r.code, 2, r.stderr);
    });
  }

  test('a policy that rejects the source stops the copy before anything is written', async () => {
    const policy = join(root, 'policy.json');
    await writeFile(
      policy,
      JSON.stringify({
        default: [{ type: 'insecureAcceptAnything' }],
        transports: { oci: { '': [{ type: 'reject' }] } },
      }),
    );
    const dest = join(root, 'rejected');
    const r = await runCli(['copy', '--policy', policy, `oci:${layout}:v1`, `dir:${dest}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /source image rejected/);
    await assert.rejects(readFile(join(dest, 'manifest.json')), { code: 'ENOENT' });
    const insecure = await runCli([
      'copy',
      '--quiet',
      '--policy',
      policy,
      '--insecure-policy',
      `oci:${layout}:v1`,
      `dir:${dest}`,
    ]);
    assert.equal(insecure.code, 0, insecure.stderr);
  });

  test('--additional-tag adds RepoTags to a docker-archive', async () => {
    const archive = join(root, 'tags.tar');
    const r = await runCli([
      'copy',
      '--quiet',
      '--additional-tag',
      'example.com/extra:two',
      `oci:${layout}:v1`,
      `docker-archive:${archive}:example.com/main:one`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    for (const tag of ['example.com/main:one', 'example.com/extra:two']) {
      assert.equal(
        await skopeo('inspect', '--raw', `docker-archive:${archive}:${tag}`),
        await skopeo('inspect', '--raw', `docker-archive:${archive}`),
      );
    }
  });

  test('a failure exits 1 with the error on stderr', async () => {
    const r = await runCli(['copy', `oci:${join(root, 'absent')}:v1`, `dir:${join(root, 'd3')}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /portcullis copy: /);
  });
});
