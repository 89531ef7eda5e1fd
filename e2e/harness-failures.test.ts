// The harness names the component and its log when something cannot be built or started.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HarnessError, run, startCluster } from './harness.ts';

const buildScript = resolve(dirname(fileURLToPath(import.meta.url)), 'tools', 'build.sh');

test('a component that cannot be built is named with its log', async () => {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-e2e-build-'));
  try {
    const tools = join(root, 'tools');
    mkdirSync(join(tools, 'etcd'), { recursive: true });
    copyFileSync(buildScript, join(tools, 'build.sh'));
    // A go.mod without go.sum fails before any download, so the test needs no network.
    writeFileSync(
      join(tools, 'etcd', 'go.mod'),
      'module example.test/broken\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v3.6.16\n',
    );
    const cache = join(root, 'cache');
    const result = await run('bash', [join(tools, 'build.sh'), 'etcd'], {
      env: { PORTCULLIS_E2E_BIN: cache, GOPROXY: 'off' },
    });
    assert.notEqual(result.code, 0);
    const log = join(cache, 'logs', 'etcd-v3.6.16.log');
    assert.match(result.stderr, /e2e build: etcd v3\.6\.16: build failed; log: .*etcd-v3\.6\.16\.log/);
    assert.ok(existsSync(log), 'the log named in the message exists');
    assert.ok(!existsSync(join(cache, 'etcd-v3.6.16')), 'a failed build is not cached');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an unknown component is refused with the list of known ones', async () => {
  const result = await run('bash', [buildScript, 'kube-proxy']);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /unknown component "kube-proxy", expected one of: kubernetes etcd helm/);
});

test('a component that exits at start is named with the tail of its log', async () => {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-e2e-start-'));
  try {
    const fakeEtcd = join(root, 'etcd');
    writeFileSync(fakeEtcd, '#!/bin/sh\necho "fake etcd: cannot open data dir" >&2\nexit 3\n');
    chmodSync(fakeEtcd, 0o755);
    await assert.rejects(startCluster({ binaries: { etcd: fakeEtcd } }), (error: unknown) => {
      assert.ok(error instanceof HarnessError);
      assert.equal(error.code, 'E2E_START_FAILED');
      assert.match(error.message, /^starting etcd: exited \(code 3\) before it was ready; log: \S+etcd\.log/);
      assert.match(error.message, /\| fake etcd: cannot open data dir/);
      const logPath = /log: (\S+)/.exec(error.message)?.[1];
      assert.ok(logPath !== undefined && existsSync(logPath), 'the log named in the message is kept');
      rmSync(dirname(logPath), { recursive: true, force: true });
      return true;
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
