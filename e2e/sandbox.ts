// The node's sandbox: fresh PID, mount and network namespaces that every process of the node runs
// in, so that what a node changes goes away with it:
// - mounts (tmpfs over /run, /var/lib and /var/log, where containerd, runc, CNI and kubelet keep
//   fixed-path state; overlay and volume mounts) live in the sandbox's mount namespace;
// - the bridge, pod veths, routes, iptables/nftables rules and network sysctls live in its network
//   namespace, which reaches the host only through one veth pair and has no route beyond it;
// - every other sysctl is read-only inside: kubelet is shown the values it insists on through
//   files bind-mounted over /proc/sys (protectKernelDefaults makes it check instead of write);
// - the sandbox's init holds a pipe from this process: when the pipe closes (stop(), a crash, a
//   SIGKILL of Node) it kills every process in the sandbox, the kernel drops the namespaces, and
//   it removes the node's cgroups, the one thing that outlives the namespaces.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type CommandResult,
  childEnv,
  HarnessError,
  run,
  type Supervised,
  sleep,
  supervise,
} from './processes.ts';

export interface Sandbox {
  /** The init's PID as the host sees it. */
  readonly pid: number;
  /** The node's end of the veth pair; the host's end is hostIp. */
  readonly nodeIp: string;
  readonly hostIp: string;
  /** kubelet's cgroupRoot: a cgroup per sandbox, named after the Node process that owns it. */
  readonly cgroupRoot: string;
  /** supervise() for a server that runs inside the sandbox. */
  supervise: SandboxSupervisor;
  /** Kills everything in the sandbox and removes its cgroups; safe to call twice. */
  stop(): Promise<void>;
}

export type SandboxSupervisor = (
  name: string,
  binary: string,
  logPath: string,
  args: string[],
  env?: Record<string, string>,
) => Supervised;

const CGROUP_PREFIX = 'kubepods-portcullis-';
// Sandboxes started by this process: the cgroup names carry the PID and a sequence number.
let sandboxes = 0;

const initScript = join(dirname(fileURLToPath(import.meta.url)), 'tools', 'sandbox-init.sh');

/** Starts a sandbox whose files (sysctl stand-ins) go to `dir`; its veth gets a free 198.18.N.0/30. */
export async function startSandbox(dir: string): Promise<Sandbox> {
  await removeStaleCgroups();
  sandboxes += 1;
  const cgroup = `${CGROUP_PREFIX}${process.pid}-${sandboxes}`;
  const child = spawn(
    'unshare',
    ['--pid', '--fork', '--kill-child', '--mount', '--mount-proc', '--net', 'bash', initScript, dir, cgroup],
    { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() },
  );
  child.unref();
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((settle) => child.once('exit', () => settle()));
  const stop = async (): Promise<void> => {
    child.stdin.end();
    const done = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
    await removeCgroups(cgroup);
  };
  try {
    await new Promise<void>((settle, fail) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) settle();
      });
      child.once('error', (error) => fail(error));
      child.once('exit', (code) => fail(new Error(`exited with ${code} before it was ready`)));
    });
    const pid = initPid(child);
    const link = await connectHost(pid);
    return {
      pid,
      ...link,
      cgroupRoot: `/${cgroup}`,
      supervise: sandboxSupervisor(pid),
      stop: once(stop),
    };
  } catch (error) {
    await stop();
    throw new HarnessError(
      'E2E_START_FAILED',
      `starting the node sandbox (unshare): ${(error as Error).message}\n${output.trim().replace(/^/gm, '  | ')}`,
      { cause: error },
    );
  }
}

/** supervise() through nsenter into the sandbox whose init has host PID `pid`. */
export function sandboxSupervisor(pid: number): SandboxSupervisor {
  return (name, binary, logPath, args, env = {}) =>
    supervise(
      name,
      'nsenter',
      logPath,
      [`--target=${pid}`, '--mount', '--net', '--pid', '--', binary, ...args],
      {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        ...env,
      },
    );
}

function initPid(child: ChildProcess): number {
  const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
  const pid = Number(children.split(' ')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no init process under unshare (${children})`);
  return pid;
}

/**
 * A veth pair between the host and the sandbox, on a /30 of 198.18.0.0/15 (set aside for network
 * tests). The host's end is named after N, so two sandboxes never pick the same subnet. Inside, a
 * rule drops whatever would be forwarded through the veth: pods reach the node, never the host
 * or beyond it.
 */
async function connectHost(pid: number): Promise<{ nodeIp: string; hostIp: string }> {
  let lastError = '';
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const n = 1 + Math.floor(Math.random() * 254);
    const hostLink = `pcn${n}`;
    const added = await run('ip', [
      'link',
      'add',
      hostLink,
      'type',
      'veth',
      'peer',
      'name',
      'node0',
      'netns',
      String(pid),
    ]);
    if (added.code !== 0) {
      lastError = added.stderr.trim();
      continue;
    }
    const hostIp = `198.18.${n}.1`;
    const nodeIp = `198.18.${n}.2`;
    const host = await run('sh', [
      '-c',
      `ip addr add ${hostIp}/30 dev ${hostLink} && ip link set ${hostLink} up`,
    ]);
    const node = await inSandboxNetwork(
      pid,
      `ip addr add ${nodeIp}/30 dev node0 && ip link set node0 up && nft -f - <<'EOF'
table inet portcullis-e2e {
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "node0" drop
    oifname "node0" drop
  }
}
EOF`,
    );
    for (const result of [host, node]) {
      if (result.code !== 0) throw new Error(`connecting the sandbox to the host: ${result.stderr.trim()}`);
    }
    return { nodeIp, hostIp };
  }
  throw new Error(`no free veth name pcn1..pcn254: ${lastError}`);
}

/** Runs a shell script in the network namespace of the sandbox whose init has host PID `pid`. */
export function inSandboxNetwork(pid: number, script: string): Promise<CommandResult> {
  return run('nsenter', [`--target=${pid}`, '--net', '--', 'sh', '-c', script]);
}

function cgroupRoots(): string[] {
  const base = '/sys/fs/cgroup';
  let entries: string[] = [];
  try {
    entries = readdirSync(base).map((name) => join(base, name));
  } catch {
    return [];
  }
  return [base, ...entries];
}

/** Removes `name` and the cgroups below it in every hierarchy; cgroups with live tasks stay. */
async function removeCgroups(name: string): Promise<void> {
  for (const root of cgroupRoots()) {
    const target = join(root, name);
    await run('sh', [
      '-c',
      `[ ! -d "$1" ] || find "$1" -depth -type d -exec rmdir {} \\; 2>/dev/null; true`,
      'rm',
      target,
    ]);
  }
}

/** Cgroups of sandboxes whose owning process is gone (killed before its init could clean up). */
async function removeStaleCgroups(): Promise<void> {
  const stale = new Set<string>();
  for (const root of cgroupRoots()) {
    let names: string[] = [];
    try {
      names = readdirSync(root).filter((name) => name.startsWith(CGROUP_PREFIX));
    } catch {
      continue;
    }
    for (const name of names) {
      const owner = Number(name.slice(CGROUP_PREFIX.length).split('-')[0]);
      if (Number.isInteger(owner) && !isAlive(owner)) stale.add(name);
    }
  }
  for (const name of stale) await removeCgroups(name);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= fn();
    return done;
  };
}
