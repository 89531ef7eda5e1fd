// inspect, list-tags, delete, manifest-digest against the real registry, compared with skopeo.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseDigest } from '../../src/image/index.ts';
import { type CliResult, runCli } from '../helpers/cli.ts';
import { dockerTestEnv } from '../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { pushWithFetch, syntheticImage, writeOciLayout } from '../helpers/synthetic-image.ts';

const run = promisify(execFile);
let registry: TestRegistry;
let dir: string;
let conf: string;

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', args, { maxBuffer: 16 << 20 });
  return stdout;
}

async function portcullis(...args: string[]): Promise<CliResult> {
  return runCli(args[0] === 'manifest-digest' ? args : [...args, '--registries-conf', conf]);
}

/** Pushes a synthetic image with skopeo (`format` as skopeo copy --format). */
async function pushWithSkopeo(repoTag: string, format?: 'v2s2' | 'oci'): Promise<void> {
  const layout = join(dir, `layout-${Math.random().toString(36).slice(2)}`);
  await writeOciLayout(layout, syntheticImage({ labels: { 'org.example.name': repoTag } }), 'v1');
  await skopeo(
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    ...(format ? ['--format', format] : []),
    `oci:${layout}:v1`,
    `docker://${registry.host}/${repoTag}`,
  );
}

/**
 * Field by field equal to skopeo 1.9.3's output. Portcullis also prints LayersData, which newer
 * skopeo releases print and 1.9.3 does not; it must describe the same layers.
 */
function assertSameInspect(ours: string, theirs: string): void {
  const { LayersData, ...rest } = JSON.parse(ours) as { LayersData: { Digest: string }[]; Layers: string[] };
  const expected = JSON.parse(theirs) as Record<string, unknown>;
  assert.deepEqual(rest, expected);
  assert.deepEqual(Object.keys(rest), Object.keys(expected));
  assert.deepEqual(
    LayersData.map((l) => l.Digest),
    rest.Layers,
  );
}

before(async () => {
  registry = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-cli-'));
  conf = join(dir, 'registries.conf');
  await writeFile(conf, '');
});
after(async () => {
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('inspect matches skopeo inspect', () => {
  for (const format of ['oci', 'v2s2'] as const) {
    it(`prints the same JSON as skopeo for an ${format} image pushed by skopeo`, async () => {
      const repo = `interop/${format}`;
      await pushWithSkopeo(`${repo}:v1`, format);
      await pushWithSkopeo(`${repo}:v2`, format);
      const image = `docker://${registry.host}/${repo}:v1`;
      const theirs = await skopeo('inspect', '--tls-verify=false', image);
      const ours = await portcullis('inspect', '--tls-verify=false', image);
      assert.equal(ours.code, 0, ours.stderr);
      assertSameInspect(ours.stdout, theirs);
    });
  }

  const variants: [string, string[]][] = [
    ['--raw', ['--raw']],
    ['--config', ['--config']],
    ['--config --raw', ['--config', '--raw']],
  ];
  for (const [name, flags] of variants) {
    it(`inspect ${name} prints what skopeo prints`, async () => {
      await pushWithSkopeo('interop/variants:v1');
      const image = `docker://${registry.host}/interop/variants:v1`;
      const theirs = await skopeo('inspect', '--tls-verify=false', ...flags, image);
      const ours = await portcullis('inspect', '--tls-verify=false', ...flags, image);
      assert.equal(ours.code, 0, ours.stderr);
      assert.equal(ours.stdout, theirs);
    });
  }

  for (const arch of ['amd64', 'arm64']) {
    it(`inspects the ${arch} instance of a multi-arch index like skopeo --override-arch ${arch}`, async () => {
      const images = {
        amd64: syntheticImage({ architecture: 'amd64' }),
        arm64: syntheticImage({ architecture: 'arm64' }),
      };
      for (const [a, img] of Object.entries(images))
        await pushWithFetch(registry.url, 'interop/multi', `only-${a}`, img);
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: Object.entries(images).map(([a, img]) => ({
            mediaType: img.mimeType,
            digest: img.manifestDigest,
            size: img.manifest.length,
            platform: { architecture: a, os: 'linux' },
          })),
        }),
      );
      const put = await fetch(`${registry.url}/v2/interop/multi/manifests/multi`, {
        method: 'PUT',
        headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
        body: index,
      });
      assert.equal(put.status, 201);
      const image = `docker://${registry.host}/interop/multi:multi`;
      const theirs = await skopeo(
        '--override-arch',
        arch,
        '--override-os',
        'linux',
        'inspect',
        '--tls-verify=false',
        image,
      );
      const ours = await portcullis(
        'inspect',
        '--override-arch',
        arch,
        '--override-os',
        'linux',
        '--tls-verify=false',
        image,
      );
      assert.equal(ours.code, 0, ours.stderr);
      assertSameInspect(ours.stdout, theirs);
      assert.equal((JSON.parse(ours.stdout) as { Architecture: string }).Architecture, arch);
    });
  }

  for (const template of [
    '{{.Digest}}',
    '{{.Name}} {{.Architecture}}/{{.Os}}',
    '{{.RepoTags}}',
    '{{.Labels}}',
  ]) {
    it(`inspect --format '${template}' prints what skopeo prints`, async () => {
      await pushWithSkopeo('interop/format:v1');
      await pushWithSkopeo('interop/format:v2');
      const image = `docker://${registry.host}/interop/format:v1`;
      const theirs = await skopeo('inspect', '--tls-verify=false', '--format', template, image);
      const ours = await portcullis('inspect', '--tls-verify=false', '--format', template, image);
      assert.equal(ours.code, 0, ours.stderr);
      assert.equal(ours.stdout, theirs);
    });
  }

  it('inspect --format {{json .Field}} prints the field as JSON (newer skopeo has json; 1.9.3 has not)', async () => {
    const image = `docker://${registry.host}/interop/format:v1`;
    const ours = await portcullis('inspect', '--tls-verify=false', '--format', '{{json .Labels}}', image);
    assert.deepEqual(JSON.parse(ours.stdout), { 'org.example.name': 'interop/format:v1' });
  });

  it('inspect --format refuses template actions it does not implement', async () => {
    const r = await portcullis(
      'inspect',
      '--tls-verify=false',
      '--format',
      '{{range .Layers}}{{.}}{{end}}',
      `docker://${registry.host}/interop/format:v1`,
    );
    assert.equal(r.code, 2);
  });

  it('inspect --no-tags prints what skopeo prints', async () => {
    await pushWithSkopeo('interop/notags:v1');
    const image = `docker://${registry.host}/interop/notags:v1`;
    const theirs = await skopeo('inspect', '--tls-verify=false', '--no-tags', image);
    const ours = await portcullis('inspect', '--tls-verify=false', '--no-tags', image);
    assertSameInspect(ours.stdout, theirs);
  });

  it('inspects an oci: layout (no registry, no tags) like skopeo', async () => {
    const layout = join(dir, 'layout-local');
    await writeOciLayout(layout, syntheticImage(), 'v1');
    const theirs = await skopeo('inspect', `oci:${layout}:v1`);
    const ours = await portcullis('inspect', `oci:${layout}:v1`);
    assert.equal(ours.code, 0, ours.stderr);
    assertSameInspect(ours.stdout, theirs);
  });

  it('reports an unknown image with exit code 1 and the registry error', async () => {
    const r = await portcullis('inspect', '--tls-verify=false', `docker://${registry.host}/interop/nope:v1`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /MANIFEST_UNKNOWN|NAME_UNKNOWN/);
  });

  it('rejects a malformed reference as a failure, not a crash', async () => {
    const r = await portcullis('inspect', 'docker://UPPER/case');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /docker:/);
  });
});

describe('schema1 images', () => {
  let legacy: TestRegistry;
  before(async () => {
    legacy = await startRegistry({ extraConfig: 'compatibility:\n  schema1:\n    enabled: true\n' });
  });
  after(() => legacy.stop());

  it('inspects a signed schema1 image like skopeo, digest computed without the JWS signatures', async () => {
    const layout = join(dir, 'layout-schema1');
    await writeOciLayout(layout, syntheticImage({ labels: { 'org.example.schema': '1' } }), 'v1');
    const image = `docker://${legacy.host}/interop/schema1:v1`;
    await skopeo('copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s1', `oci:${layout}:v1`, image);
    const raw = await portcullis('inspect', '--tls-verify=false', '--raw', image);
    assert.match(raw.stdout, /"signatures"/);
    const theirs = await skopeo('inspect', '--tls-verify=false', image);
    const ours = await portcullis('inspect', '--tls-verify=false', image);
    assert.equal(ours.code, 0, ours.stderr);
    assertSameInspect(ours.stdout, theirs);
  });

  // skopeo derives an OCI config from the schema1 history (diffIDs unknown, so empty), and has
  // no config blob to print raw: both are compared byte for byte.
  for (const [name, flags] of [
    ['--config', ['--config']],
    ['--config --raw', ['--config', '--raw']],
  ] as const) {
    it(`inspect ${name} on a schema1 image prints what skopeo prints`, async () => {
      const layout = join(dir, 'layout-schema1-config');
      await writeOciLayout(
        layout,
        syntheticImage({ labels: { 'org.example.schema': 'config' }, env: ['A=1'] }),
        'v1',
      );
      const image = `docker://${legacy.host}/interop/schema1-config:v1`;
      await skopeo(
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        '--format',
        'v2s1',
        `oci:${layout}:v1`,
        image,
      );
      const theirs = await skopeo('inspect', '--tls-verify=false', ...flags, image);
      const ours = await portcullis('inspect', '--tls-verify=false', ...flags, image);
      assert.equal(ours.code, 0, ours.stderr);
      assert.equal(ours.stdout, theirs);
      if (name === '--config') assert.match(ours.stdout, /"A=1"/);
    });
  }
});

describe('images pushed by skopeo read with identical digests', () => {
  it('manifest digest and blobs match what skopeo reports', async () => {
    await pushWithSkopeo('interop/digests:v1');
    const image = `docker://${registry.host}/interop/digests:v1`;
    const theirs = (await skopeo('inspect', '--tls-verify=false', '--format', '{{.Digest}}', image)).trim();
    const ours = JSON.parse((await portcullis('inspect', '--tls-verify=false', image)).stdout) as {
      Digest: string;
    };
    assert.equal(ours.Digest, theirs);
  });

  it('skopeo reads an image Portcullis wrote with the digest Portcullis computed', async () => {
    await pushWithSkopeo('interop/back:v1');
    // copy through Portcullis' own source and destination
    const env = await dockerTestEnv();
    try {
      const src = await env.transport
        .parseReference(`//${registry.host}/interop/back:v1`)
        .newImageSource(env.ctx);
      const dest = await env.transport
        .parseReference(`//${registry.host}/interop/back-copy:v1`)
        .newImageDestination(env.ctx);
      const m = await src.getManifest();
      const parsed = JSON.parse(Buffer.from(m.manifest).toString()) as {
        config: { digest: string; size: number };
        layers: { digest: string; size: number }[];
      };
      for (const b of [parsed.config, ...parsed.layers]) {
        const reused = await dest.tryReusingBlob(
          { digest: parseDigest(b.digest), size: b.size },
          { canSubstitute: false },
        );
        if (reused === undefined) {
          const { stream } = await src.getBlob({ digest: parseDigest(b.digest), size: b.size });
          await dest.putBlob(
            stream,
            { digest: parseDigest(b.digest), size: b.size },
            { isConfig: b === parsed.config },
          );
        }
      }
      await dest.putManifest(m.manifest, m.mimeType);
      await dest.commit();
    } finally {
      await env.cleanup();
    }
    const a = (
      await skopeo(
        'inspect',
        '--tls-verify=false',
        '--format',
        '{{.Digest}}',
        `docker://${registry.host}/interop/back:v1`,
      )
    ).trim();
    const b = (
      await skopeo(
        'inspect',
        '--tls-verify=false',
        '--format',
        '{{.Digest}}',
        `docker://${registry.host}/interop/back-copy:v1`,
      )
    ).trim();
    assert.equal(b, a);
  });
});

describe('list-tags, delete, manifest-digest', () => {
  it('list-tags prints what skopeo prints', async () => {
    await pushWithSkopeo('interop/tags:a');
    await pushWithSkopeo('interop/tags:b');
    const theirs = await skopeo('list-tags', '--tls-verify=false', `docker://${registry.host}/interop/tags`);
    const ours = await portcullis(
      'list-tags',
      '--tls-verify=false',
      `docker://${registry.host}/interop/tags`,
    );
    assert.equal(ours.code, 0, ours.stderr);
    assert.equal(ours.stdout, theirs);
  });

  it('list-tags refuses a reference with a tag', async () => {
    const r = await portcullis('list-tags', `docker://${registry.host}/interop/tags:a`);
    assert.equal(r.code, 2);
  });

  it('delete removes the image; inspect then fails', async () => {
    await pushWithSkopeo('interop/del:v1');
    const image = `docker://${registry.host}/interop/del:v1`;
    const r = await portcullis('delete', '--tls-verify=false', image);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await portcullis('inspect', '--tls-verify=false', image)).code, 1);
  });

  it('manifest-digest prints what skopeo prints', async () => {
    const image = syntheticImage();
    const file = join(dir, 'manifest.json');
    await writeFile(file, image.manifest);
    const ours = await portcullis('manifest-digest', file);
    assert.equal(ours.stdout, await skopeo('manifest-digest', file));
  });
});
