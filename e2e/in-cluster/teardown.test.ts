// A cluster with a node leaves the machine as it found it, also when the process that owns it is
// killed with SIGKILL: no process, network link, route, firewall rule, mount or cgroup of it stays,
// and no sysctl changed. A component that cannot start is named with its log.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually, HarnessError, run } from '../harness.ts';
import { type NodeClusterInfo, startNodeCluster } from '../node.ts';

const starter = fileURLToPath(new URL('../tools/node-cluster.ts', import.meta.url));
const sysctls = [
  'net/ipv4/ip_forward',
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];

// Other clusters with a node (another test run on this machine) come and go with their own links.
const otherNodeLinks = /^.*\bpcn\d+\b.*$\n?/gm;

async function machineState(): Promise<Record<string, string>> {
  const text = async (command: string, args: string[]) => (await run(command, args)).stdout;
  return {
    links: (await text('ip', ['-o', 'link', 'show'])).replace(otherNodeLinks, ''),
    routes: (await text('ip', ['route', 'show', 'table', 'all'])).replace(otherNodeLinks, ''),
    iptables: (await text('iptables-save', [])).replace(/^#.*$/gm, ''),
    nftables: await text('nft', ['list', 'ruleset']),
    mounts: readFileSync('/proc/self/mountinfo', 'utf8'),
    sysctls: sysctls.map((key) => `${key}=${readFileSync(`/proc/sys/${key}`, 'utf8').trim()}`).join('\n'),
  };
}

function cgroupsOf(owner: number): string[] {
  const found: string[] = [];
  for (const hierarchy of ['', ...readdirSync('/sys/fs/cgroup')]) {
    try {
      for (const name of readdirSync(join('/sys/fs/cgroup', hierarchy))) {
        if (name.startsWith(`kubepods-portcullis-${owner}-`)) found.push(join(hierarchy, name));
      }
    } catch {
      // not a folder
    }
  }
  return found;
}

function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

test('killing the owner of a cluster with a node (SIGKILL) leaves nothing of it behind', async () => {
  const before = await machineState();
  const owner = spawn(process.execPath, [starter], { stdio: ['pipe', 'pipe', 'inherit'] });
  const clusterJson = await new Promise<string>((settle, fail) => {
    let out = '';
    owner.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) settle(out.trim());
    });
    owner.once('exit', (code) => fail(new Error(`the cluster owner exited with ${code}`)));
  });
  const info = JSON.parse(readFileSync(clusterJson, 'utf8')) as NodeClusterInfo;
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'pause', namespace: 'default' },
    spec: { containers: [{ name: 'pause', image: info.images.pause }] },
  };
  const kubectl = (args: string[], input?: string) =>
    run(
      info.binaries.kubectl,
      [`--kubeconfig=${info.kubeconfig}`, ...args],
      input === undefined ? {} : { input },
    );
  assert.equal((await kubectl(['apply', '-f', '-'], JSON.stringify(pod))).code, 0);
  const ready = await kubectl(['wait', '--for=condition=Ready', 'pod/pause', '--timeout=90s'], undefined);
  assert.equal(ready.code, 0, ready.stderr);
  assert.ok(cgroupsOf(owner.pid ?? 0).length > 0, 'the running pod has cgroups of this cluster');
  const hostLink = `pcn${info.nodeIp.split('.')[2]}`;
  assert.match((await run('ip', ['-o', 'addr', 'show', 'dev', hostLink])).stdout, /198\.18\.\d+\.1\/30/);

  owner.kill('SIGKILL');
  await eventually(
    'every process of the cluster gone',
    async () => (processesMentioning(info.dir).length === 0 ? true : undefined),
    30_000,
  );
  await eventually(
    'cgroups removed',
    async () => (cgroupsOf(owner.pid ?? 0).length === 0 ? true : undefined),
    30_000,
  );
  await eventually(
    'links, routes, rules, mounts and sysctls as before',
    async () => {
      const after = await machineState();
      return JSON.stringify(after) === JSON.stringify(before) ? true : undefined;
    },
    30_000,
  ).catch(async (error) => {
    const after = await machineState();
    for (const key of Object.keys(before)) assert.equal(after[key], before[key], key);
    throw error;
  });
  await run('rm', ['-rf', info.dir]);
});

test('a node component that exits at start is named with its log, and its sandbox is gone', async () => {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-fake-kubelet-'));
  try {
    const fakeKubelet = join(root, 'kubelet');
    writeFileSync(fakeKubelet, '#!/bin/sh\necho "fake kubelet: no container runtime" >&2\nexit 4\n');
    chmodSync(fakeKubelet, 0o755);
    await assert.rejects(startNodeCluster({ binaries: { kubelet: fakeKubelet } }), (error: unknown) => {
      assert.ok(error instanceof HarnessError);
      assert.equal(error.code, 'E2E_START_FAILED');
      assert.match(
        error.message,
        /^starting kubelet: exited \(code 4\) before it was ready; log: \S+kubelet\.log/,
      );
      assert.match(error.message, /\| fake kubelet: no container runtime/);
      const logPath = /log: (\S+)/.exec(error.message)?.[1] ?? '';
      assert.ok(existsSync(logPath), 'the log named in the message is kept');
      rmSync(dirname(logPath), { recursive: true, force: true });
      return true;
    });
    assert.deepEqual(cgroupsOf(process.pid), [], 'no cgroup of the failed cluster is left');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
