// The binaries the e2e clusters run, built from their Go modules by e2e/tools/build.sh on the
// first run and found in .cache/e2e-bin afterwards (envtest's binary assets).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError, lastLines, run } from './processes.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const buildScript = join(repoRoot, 'e2e', 'tools', 'build.sh');

export interface Binaries {
  kubeApiserver: string;
  kubectl: string;
  etcd: string;
  helm: string;
}

export interface NodeBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubelet: string;
  kubeProxy: string;
  kubectl: string;
  helm: string;
}

/** Builds (first run) or finds (cached) the binaries; see e2e/tools/build.sh. */
export async function ensureBinaries(): Promise<Binaries> {
  const pick = await buildBinaries(['kubernetes', 'etcd', 'helm']);
  return {
    kubeApiserver: pick('kube-apiserver'),
    kubectl: pick('kubectl'),
    etcd: pick('etcd'),
    helm: pick('helm'),
  };
}

/**
 * Builds (first run) or finds (cached) the binaries of `components` (build.sh's names) and returns
 * a lookup by binary name that fails for a binary build.sh did not report.
 */
export async function buildBinaries(components: string[]): Promise<(binary: string) => string> {
  const result = await run('bash', [buildScript, ...components], {
    timeoutMs: 80 * 60_000,
    stderrTo: process.stderr,
  });
  if (result.code !== 0) {
    throw new HarnessError(
      'E2E_BUILD_FAILED',
      `building e2e binaries: ${lastLines(result.stderr, 25) || `build.sh exited with ${result.code}`}`,
    );
  }
  const paths = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) paths.set(line.slice(0, at), line.slice(at + 1));
  }
  return (name) => {
    const path = paths.get(name);
    if (path === undefined) {
      throw new HarnessError(
        'E2E_BUILD_FAILED',
        `building e2e binaries: build.sh reported no path for ${name}`,
      );
    }
    return path;
  };
}

export async function ensureNodeBinaries(): Promise<NodeBinaries> {
  const pick = await buildBinaries(['kubernetes', 'etcd', 'helm', 'kubernetes-node']);
  return {
    etcd: pick('etcd'),
    kubeApiserver: pick('kube-apiserver'),
    kubeControllerManager: pick('kube-controller-manager'),
    kubeScheduler: pick('kube-scheduler'),
    kubelet: pick('kubelet'),
    kubeProxy: pick('kube-proxy'),
    kubectl: pick('kubectl'),
    helm: pick('helm'),
  };
}
