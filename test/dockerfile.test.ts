// Fast checks of the Dockerfile that need no container engine; the e2e suite builds the image itself
// (e2e/in-cluster, buildah).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

interface Copy {
  readonly from: string | undefined;
  readonly sources: string[];
}

const copies: Copy[] = [...dockerfile.matchAll(/^COPY\s+(?:--from=(\S+)\s+)?(.+)$/gm)].map((m) => {
  const parts = m[2]!.trim().split(/\s+/);
  return { from: m[1], sources: parts.slice(0, -1) };
});

describe('Dockerfile', () => {
  it('copies only files that exist in the repository', () => {
    const missing = copies
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources)
      .filter((s) => !existsSync(join(root, s)));
    assert.deepEqual(missing, []);
  });

  it('copies the build output that `node scripts/build.ts` produces', async () => {
    assert.match(dockerfile, /^RUN node scripts\/build\.ts$/m);
    await promisify(execFile)(process.execPath, [join(root, 'scripts/build.ts')], { cwd: root });
    const fromBuild = copies.filter((c) => c.from === 'build').flatMap((c) => c.sources);
    assert.ok(fromBuild.length > 0, 'expected a COPY --from=build');
    for (const s of fromBuild) {
      const local = s.replace(/^\/src\//, '');
      assert.ok(existsSync(join(root, local)), `${local} missing after the build`);
    }
    assert.ok(existsSync(join(root, 'dist/cli/main.js')), 'the bin entry needs dist/cli/main.js');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, string | Record<string, string>>;
    };
    for (const target of Object.values(pkg.exports).flatMap((e) =>
      typeof e === 'string' ? [e] : Object.values(e),
    ))
      assert.ok(existsSync(join(root, target)), `package.json exports ${target}, missing after the build`);
  });

  it("bounds V8's young generation with Node options that keep the code-cache tag", async () => {
    const options = /^ENV NODE_OPTIONS="?([^"\n]+)"?$/m.exec(dockerfile)?.[1];
    assert.match(options ?? '', /--max-semi-space-size=\d+/);
    const tag = async (nodeOptions: string) =>
      (
        await promisify(execFile)(process.execPath, ['-p', "require('node:v8').cachedDataVersionTag()"], {
          env: { ...process.env, NODE_OPTIONS: nodeOptions },
        })
      ).stdout;
    assert.equal(await tag(options ?? ''), await tag(''));
  });

  it('runs as a non-root user and starts the webhook', () => {
    const user = /^USER\s+(\S+)/m.exec(dockerfile)?.[1];
    assert.ok(user !== undefined && !/^(0|root)(:|$)/.test(user), `USER ${user}`);
    assert.match(dockerfile, /^CMD \["serve"\]/m);
  });
});
