// The docker: transport never resolves short names (skopeo normalizes `docker://name` to
// docker.io/library/name and ignores [aliases]); Portcullis' CLI must do exactly the same.
// Compared with skopeo 1.9.3 on the same registries.conf and registries.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { closeAllAgents } from '../../src/image/transports/docker/index.ts';
import { runCli } from '../helpers/cli.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { pushWithFetch, syntheticImage } from '../helpers/synthetic-image.ts';

const run = promisify(execFile);
// Not aliased by the machine's registries.conf.d drop-ins.
const SHORT = 'portcullis-demo';

describe('docker:// short names, like skopeo', () => {
  let aliased: TestRegistry;
  let rewritten: TestRegistry;
  let dir: string;
  let conf: string;
  let expected: string;

  before(async () => {
    [aliased, rewritten] = await Promise.all([startRegistry(), startRegistry()]);
    dir = await mkdtemp(join(tmpdir(), 'portcullis-short-cli-'));
    await pushWithFetch(aliased.url, `team/${SHORT}`, 'v1', syntheticImage());
    const target = syntheticImage();
    expected = target.manifestDigest;
    await pushWithFetch(rewritten.url, `library/${SHORT}`, 'v1', target);
    // The alias would send the short name to one registry; the docker.io rewrite to the other.
    // skopeo 1.9.3 reads no CONTAINERS_REGISTRIES_CONF: it gets the file as its HOME's.
    await mkdir(join(dir, '.config/containers'), { recursive: true });
    conf = join(dir, '.config/containers/registries.conf');
    await writeFile(
      conf,
      [
        `unqualified-search-registries = ["${aliased.host}"]`,
        `[[registry]]`,
        `prefix = "docker.io/library/${SHORT}"`,
        `location = "${rewritten.host}/library/${SHORT}"`,
        `insecure = true`,
        `[aliases]`,
        `"${SHORT}" = "${aliased.host}/team/${SHORT}"`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await Promise.all([aliased?.stop(), rewritten?.stop()]);
    await closeAllAgents();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('inspect docker://<short name> reads docker.io/library/<name> (rewritten), ignoring the alias', async () => {
    const image = `docker://${SHORT}:v1`;
    const theirs = await run(
      'skopeo',
      ['inspect', '--tls-verify=false', '--no-tags', '--format', '{{.Digest}}', image],
      { env: { ...process.env, HOME: dir } },
    );
    assert.equal(theirs.stdout.trim(), expected);
    const ours = await runCli([
      'inspect',
      '--registries-conf',
      conf,
      '--tls-verify=false',
      '--no-tags',
      '--format',
      '{{.Digest}}',
      image,
    ]);
    assert.equal(ours.code, 0, ours.stderr);
    assert.equal(ours.stdout.trim(), theirs.stdout.trim());
  });
});
