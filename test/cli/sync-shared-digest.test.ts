// Tags that share a digest (`1`, `1.2`, `latest`) synced at once: concurrent copies of the same
// blobs and manifests to one repository share the work. Distribution rewrites a blob's or
// manifest's link in place when it is written again, and a manifest PUT reading it meanwhile
// fails with DIGEST_INVALID; before the copies shared their writes, a sync of 12 such tags failed
// about one run in two on this registry, a sync --all of 6 tags of one index two runs in three.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { digestOf } from '../../src/image/digest.ts';
import { runCli } from '../helpers/cli.ts';
import { syntheticImage, writeOciIndexLayout, writeOciLayout } from '../helpers/images.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { skopeo } from '../helpers/skopeo.ts';

const TAGS = 12;
const LIST_TAGS = 6;
const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
let root: string;
let registry: TestRegistry;
let imageDigest: string;
let indexDigest: string;
let sharedLayers: readonly string[];

async function served(image: string): Promise<string> {
  return digestOf(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${image}`));
}

/** Pushes `layout:name` as `repo:t0`, then tags the same manifest t1 … t(count-1). */
async function tagged(layout: string, name: string, repo: string, count: number): Promise<void> {
  const all = ['--all', '--quiet'];
  await skopeo(
    'copy',
    ...all,
    '--dest-tls-verify=false',
    `oci:${layout}:${name}`,
    `docker://${registry.host}/${repo}:t0`,
  );
  for (let i = 1; i < count; i++) {
    await skopeo(
      'copy',
      ...all,
      ...tls,
      `docker://${registry.host}/${repo}:t0`,
      `docker://${registry.host}/${repo}:t${i}`,
    );
  }
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'sync-shared-'));
  registry = await startRegistry({ accessLog: true });
  const image = syntheticImage({ layers: 2 });
  imageDigest = image.manifestDigest;
  await writeOciLayout(join(root, 'image'), { i: image });
  await tagged(join(root, 'image'), 'i', 'src/app', TAGS);
  // Three platforms built from the same layers: only their configs differ.
  const amd64 = syntheticImage({ layers: 2 });
  const others = ['arm64', 'ppc64le'].map((architecture) =>
    syntheticImage({ tars: amd64.tars!, architecture }),
  );
  sharedLayers = amd64.layers.map((l) => digestOf(l));
  ({ indexDigest } = await writeOciIndexLayout(
    join(root, 'list'),
    'l',
    [amd64, ...others],
    ['amd64', 'arm64', 'ppc64le'],
  ));
  await tagged(join(root, 'list'), 'l', 'src/list', LIST_TAGS);
});
after(async () => {
  await registry?.stop();
  await rm(root, { recursive: true, force: true });
});

const syncTo = (source: string, prefix: string, extra: readonly string[] = []) =>
  runCli([
    'sync',
    ...tls,
    ...extra,
    '--src',
    'docker',
    '--dest',
    'docker',
    `${registry.host}/${source}`,
    `${registry.host}/${prefix}`,
  ]);

/** Blobs that arrived in `repo` (uploaded, or mounted from another repository) in `log`. */
function arrivals(log: string, repo: string): string[] {
  const path = repo.replaceAll('/', '\\/');
  return [
    ...log.matchAll(
      new RegExp(`"PUT \\/v2\\/${path}\\/blobs\\/uploads\\/\\S*digest=sha256%3A([a-f0-9]{64})`, 'g'),
    ),
    ...log.matchAll(
      new RegExp(
        `"POST \\/v2\\/${path}\\/blobs\\/uploads\\/\\?mount=sha256%3A([a-f0-9]{64})\\S* HTTP\\/1.1" 201`,
        'g',
      ),
    ),
  ].map((m) => `sha256:${m[1]}`);
}

describe('sync of tags that share a digest, with the default --parallel-images', () => {
  test(`${TAGS} tags of one image: every sync of 15 mirrors every tag, each blob arriving once`, async () => {
    const arrived: string[][] = [];
    for (let run = 0; run < 15; run++) {
      const start = registry.log().length;
      const r = await syncTo('src/app', `image${run}`);
      assert.equal(r.code, 0, `sync ${run + 1} of 15: ${r.stderr}`);
      arrived.push(arrivals(registry.log().slice(start), `image${run}/app`));
    }
    for (const blobs of arrived) {
      assert.equal(blobs.length, 3, 'two layers and a config, each once');
      assert.equal(new Set(blobs).size, 3);
    }
    for (let i = 0; i < TAGS; i++)
      assert.equal(await served(`${registry.host}/image14/app:t${i}`), imageDigest);
  });

  test(`sync --all, ${LIST_TAGS} tags of one index whose instances share layers: every sync of 10 mirrors every tag`, async () => {
    const arrived: string[][] = [];
    for (let run = 0; run < 10; run++) {
      const start = registry.log().length;
      const r = await syncTo('src/list', `list${run}`, ['--all']);
      assert.equal(r.code, 0, `sync ${run + 1} of 10: ${r.stderr}`);
      arrived.push(arrivals(registry.log().slice(start), `list${run}/list`));
    }
    for (const blobs of arrived) {
      for (const layer of sharedLayers) assert.equal(blobs.filter((d) => d === layer).length, 1);
    }
    for (let i = 0; i < LIST_TAGS; i++)
      assert.equal(await served(`${registry.host}/list9/list:t${i}`), indexDigest);
  });

  test('copy --all of that index puts each shared layer once', async () => {
    const start = registry.log().length;
    const r = await runCli([
      'copy',
      '--all',
      ...tls,
      `docker://${registry.host}/src/list:t0`,
      `docker://${registry.host}/copied/list:1`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const arrived = arrivals(registry.log().slice(start), 'copied/list');
    for (const layer of sharedLayers) assert.equal(arrived.filter((d) => d === layer).length, 1);
    assert.equal(await served(`${registry.host}/copied/list:1`), indexDigest);
  });
});
