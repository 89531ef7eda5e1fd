// A Kubernetes cluster with a real node, for what must run in pods: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet, containerd (runc, the CNI bridge) and
// kube-proxy, plus a Distribution registry the kubelet pulls from.
//
// All of it runs in a sandbox of fresh PID, mount and network namespaces (sandbox.ts). The test
// process reaches the node over a veth pair at `nodeIp`; pods reach the registry and the API server
// at the same address, so an image name means the same everywhere.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureNodeBinaries, type NodeBinaries } from './binaries.ts';
import { buildScratchImages, pushOciImage } from './images.ts';
import { clientKubeconfig, kubeClients } from './kubeconfig.ts';
import { createPki, type Pki, type ServingCert } from './pki.ts';
import {
  type CommandOptions,
  type CommandResult,
  eventually,
  HarnessError,
  httpGet,
  type Supervised,
  waitReady,
} from './processes.ts';
import { inSandboxNetwork, type Sandbox, sandboxSupervisor, startSandbox } from './sandbox.ts';

export const NODE_NAME = 'e2e-node';
const POD_CIDR = '10.244.0.0/24';
const POD_GATEWAY = '10.244.0.1';
const SERVICE_CIDR = '10.96.0.0/16';
const REGISTRY_PORT = 5000;

/** What a test file needs to use a cluster another process started (see attachNodeCluster). */
export interface NodeClusterInfo {
  readonly dir: string;
  readonly kubeconfig: string;
  /** https URL of the API server, at nodeIp. */
  readonly server: string;
  readonly caPath: string;
  /** The node's address: its InternalIP, where the host and pods reach the API server and registry. */
  readonly nodeIp: string;
  /** host:port of the plain-HTTP registry the kubelet pulls from. */
  readonly registry: string;
  /** The host's PID of the sandbox's init, for running more servers inside it. */
  readonly sandboxPid: number;
  readonly binaries: NodeBinaries;
  /** Images in `registry` by tag: pause, and kubectl (what the chart's cleanup hook runs). */
  readonly images: Readonly<Record<string, string>>;
}

export interface NodeCluster extends NodeClusterInfo {
  readonly caPem: string;
  kubectl(args: string[], options?: CommandOptions): Promise<CommandResult>;
  helm(args: string[], options?: CommandOptions): Promise<CommandResult>;
  /** Copies tag `tag` of the OCI layout at `layout` into the registry as `repoTag`; returns `registry/repo@digest`. */
  pushOci(layout: string, tag: string, repoTag: string): Promise<string>;
  /**
   * Runs `binary args` inside the node's namespaces until stop() (or until this process ends), and
   * waits for `ready`; a failure names `name` and its log.
   */
  startServer(server: NodeServer): Promise<Supervised>;
  /** Stops the node and removes what it left on the machine; for an attached cluster, only its own servers. */
  stop(): Promise<void>;
}

export interface NodeServer {
  name: string;
  binary: string;
  args: string[];
  ready: () => Promise<boolean>;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export interface NodeStartOptions {
  /** Keep the cluster folder after stop (also with PORTCULLIS_E2E_KEEP=1), for reading logs. */
  keepDir?: boolean;
  /** How long each component may take to become ready; default 120 s. */
  readyTimeoutMs?: number;
  /** Replaces built binaries, e.g. to prove how a component that cannot start is reported. */
  binaries?: Partial<NodeBinaries>;
}

/**
 * Starts a cluster with one node. The caller must call stop(), in an `after` hook; if this process
 * dies first, the sandbox's init kills everything in it and removes the node's cgroups.
 */
export async function startNodeCluster(options: NodeStartOptions = {}): Promise<NodeCluster> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const keepDir = options.keepDir ?? process.env.PORTCULLIS_E2E_KEEP === '1';
  const binaries = { ...(await ensureNodeBinaries()), ...options.binaries };
  const scratch = await buildScratchImages(binaries.kubectl);
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-node-'));
  let sandbox: Sandbox | undefined;
  const servers: Supervised[] = [];

  const stop = async (keep: boolean): Promise<void> => {
    // Stopping the sandbox kills every process in it at once: nothing in a test cluster needs a
    // graceful stop, and a fail-closed webhook cannot stand in the way of a kill.
    await sandbox?.stop();
    for (const server of servers) await server.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };

  try {
    sandbox = await startSandbox(dir);
    const box = sandbox;
    const nodeIp = box.nodeIp;
    // The bridge exists before the first pod (the CNI plugin adopts it), so that the service range
    // can be routed to it: a connection to a ClusterIP needs a route before kube-proxy's DNAT
    // picks the pod, also from the API server calling a webhook Service.
    const bridge = await inSandboxNetwork(
      box.pid,
      `ip link add cni0 type bridge && ip addr add ${POD_GATEWAY}/24 dev cni0 && ip link set cni0 up && ip route add ${SERVICE_CIDR} dev cni0`,
    );
    if (bridge.code !== 0) {
      throw new HarnessError(
        'E2E_START_FAILED',
        `starting the node: creating the bridge cni0: ${bridge.stderr.trim()}`,
      );
    }
    const server = `https://${nodeIp}:6443`;
    const registry = `${nodeIp}:${REGISTRY_PORT}`;
    const pki = await createPki(join(dir, 'pki'), [nodeIp]);
    const certs = await issueNodeCerts(pki, nodeIp);
    const kubeconfigs = writeKubeconfigs(dir, server, pki, certs);
    const pauseRef = `${registry}/e2e/pause:${scratch.kubernetesVersion}`;
    await writeNodeConfig(dir, nodeIp, registry, pauseRef, pki, certs, box.cgroupRoot);

    const start = serverStarter(box, dir, servers, readyTimeoutMs);
    const adminTls = { ca: pki.caPem, cert: pki.admin.certPem, key: pki.admin.keyPem };
    const serving = { ca: pki.caPem };

    await Promise.all([
      start({
        name: 'etcd',
        binary: binaries.etcd,
        args: [
          '--name=e2e',
          `--data-dir=${join(dir, 'etcd-data')}`,
          `--listen-client-urls=http://127.0.0.1:2379,http://${nodeIp}:2379`,
          `--advertise-client-urls=http://${nodeIp}:2379`,
          '--listen-peer-urls=http://127.0.0.1:2380',
          '--initial-advertise-peer-urls=http://127.0.0.1:2380',
          '--initial-cluster=e2e=http://127.0.0.1:2380',
          // A throwaway test store: durability costs fsyncs the shared machine cannot spare.
          '--unsafe-no-fsync',
          '--log-level=warn',
        ],
        ready: async () => (await httpGet(`http://${nodeIp}:2379/health`)).body.includes('"health":"true"'),
      }),
      start(await registryServer('registry', join(dir, 'registry'), nodeIp, REGISTRY_PORT)),
      start({
        name: 'containerd',
        binary: 'containerd',
        args: [`--config=${join(dir, 'containerd', 'config.toml')}`],
        ready: () => socketAccepts(join(dir, 'containerd', 'containerd.sock')),
      }),
    ]);
    const kubectlRef = `${registry}/e2e/kubectl:${scratch.kubernetesVersion}`;
    await Promise.all([
      pushOciImage(scratch, 'pause', pauseRef),
      pushOciImage(scratch, 'kubectl', kubectlRef),
    ]);

    await start({
      name: 'kube-apiserver',
      binary: binaries.kubeApiserver,
      args: [
        '--bind-address=0.0.0.0',
        `--advertise-address=${nodeIp}`,
        '--secure-port=6443',
        '--etcd-servers=http://127.0.0.1:2379',
        `--tls-cert-file=${pki.apiserver.certPath}`,
        `--tls-private-key-file=${pki.apiserver.keyPath}`,
        `--client-ca-file=${pki.caPath}`,
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        `--service-account-key-file=${pki.serviceAccountKeyPath}`,
        `--service-account-signing-key-file=${pki.serviceAccountKeyPath}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        `--kubelet-client-certificate=${certs.apiserverKubelet.certPath}`,
        `--kubelet-client-key=${certs.apiserverKubelet.keyPath}`,
        `--kubelet-certificate-authority=${pki.caPath}`,
        '--kubelet-preferred-address-types=InternalIP',
        // Who wrote policy status and Events, and from which pod address (leader election tests).
        `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
        `--audit-log-path=${join(dir, 'audit.log')}`,
        '--audit-log-format=json',
        '--profiling=false',
      ],
      ready: async () => {
        if ((await httpGet(`${server}/readyz`, adminTls)).status !== 200) return false;
        return (await httpGet(`${server}/api/v1/namespaces/default`, adminTls)).status === 200;
      },
    });

    const { kubectl } = kubeClients(binaries, kubeconfigs.admin, join(dir, 'helm'));

    await Promise.all([
      start({
        name: 'kube-controller-manager',
        binary: binaries.kubeControllerManager,
        args: [
          `--kubeconfig=${kubeconfigs.controllerManager}`,
          ...controlPlaneServing(nodeIp, certs.controllerManagerServing),
          `--service-account-private-key-file=${pki.serviceAccountKeyPath}`,
          `--root-ca-file=${pki.caPath}`,
          '--use-service-account-credentials=true',
          // The CNI bridge hands out pod addresses; no node CIDR allocation.
          '--controllers=*,-nodeipam',
          `--flex-volume-plugin-dir=${join(dir, 'kube-controller-manager', 'volume-plugins')}`,
        ],
        ready: async () => (await httpGet(`https://${nodeIp}:10257/healthz`, serving)).status === 200,
      }),
      start({
        name: 'kube-scheduler',
        binary: binaries.kubeScheduler,
        args: [
          `--kubeconfig=${kubeconfigs.scheduler}`,
          ...controlPlaneServing(nodeIp, certs.schedulerServing),
        ],
        ready: async () => (await httpGet(`https://${nodeIp}:10259/healthz`, serving)).status === 200,
      }),
      start({
        name: 'kubelet',
        binary: binaries.kubelet,
        args: [
          `--config=${join(dir, 'kubelet', 'config.yaml')}`,
          `--kubeconfig=${kubeconfigs.kubelet}`,
          `--root-dir=${join(dir, 'kubelet', 'root')}`,
          `--cert-dir=${join(dir, 'kubelet', 'pki')}`,
          `--node-ip=${nodeIp}`,
          `--hostname-override=${NODE_NAME}`,
        ],
        ready: async () => (await httpGet(`http://${nodeIp}:10248/healthz`)).status === 200,
      }),
      start({
        name: 'kube-proxy',
        binary: binaries.kubeProxy,
        args: [`--config=${join(dir, 'kube-proxy.yaml')}`],
        ready: async () => (await httpGet(`http://${nodeIp}:10256/livez`)).status === 200,
      }),
    ]);

    await waitFor('kubelet', join(dir, 'kubelet.log'), readyTimeoutMs, 'node Ready', async () => {
      const ready = await kubectl([
        'get',
        'node',
        NODE_NAME,
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
      ]);
      return ready.stdout === 'True';
    });
    await waitFor(
      'kube-controller-manager',
      join(dir, 'kube-controller-manager.log'),
      readyTimeoutMs,
      'the default ServiceAccount',
      async () => (await kubectl(['get', 'serviceaccount', 'default', '-n', 'default'])).code === 0,
    );

    const info: NodeClusterInfo = {
      dir,
      kubeconfig: kubeconfigs.admin,
      server,
      caPath: pki.caPath,
      nodeIp,
      registry,
      sandboxPid: box.pid,
      binaries,
      images: { pause: pauseRef, kubectl: kubectlRef },
    };
    writeFileSync(join(dir, 'cluster.json'), JSON.stringify(info, null, 2));
    return clusterApi(info, box, servers, () => stop(keepDir));
  } catch (error) {
    // The folder stays: the error names the log in it.
    await stop(true);
    throw error;
  }
}

/**
 * A cluster another process started, from its cluster.json (PORTCULLIS_E2E_NODE_CLUSTER names it
 * when the suite's global setup shares one cluster between test files). stop() stops only the
 * servers this process started in it.
 */
export function attachNodeCluster(clusterJson: string): NodeCluster {
  const info = JSON.parse(readFileSync(clusterJson, 'utf8')) as NodeClusterInfo;
  const servers: Supervised[] = [];
  const box: Pick<Sandbox, 'supervise'> = { supervise: sandboxSupervisor(info.sandboxPid) };
  return clusterApi(info, box, servers, async () => {
    for (const server of servers) await server.stop();
  });
}

function clusterApi(
  info: NodeClusterInfo,
  box: Pick<Sandbox, 'supervise'>,
  servers: Supervised[],
  stop: () => Promise<void>,
): NodeCluster {
  let stopped = false;
  return {
    ...info,
    ...kubeClients(info.binaries, info.kubeconfig, join(info.dir, 'helm')),
    caPem: readFileSync(info.caPath, 'utf8'),
    pushOci: (layout, tag, repoTag) => pushOciImage({ layout }, tag, `${info.registry}/${repoTag}`),
    startServer: serverStarter(box, info.dir, servers, 60_000),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await stop();
    },
  };
}

/** Starts servers in the sandbox, logging to <dir>/<name>.log, and waits until each is ready. */
function serverStarter(
  box: Pick<Sandbox, 'supervise'>,
  dir: string,
  servers: Supervised[],
  readyTimeoutMs: number,
): (server: NodeServer) => Promise<Supervised> {
  return async (s) => {
    const proc = box.supervise(s.name, s.binary, join(dir, `${s.name}.log`), s.args, {
      TMPDIR: join(dir, 'tmp'),
      ...s.env,
    });
    servers.push(proc);
    await waitReady(proc, s.readyTimeoutMs ?? readyTimeoutMs, s.ready);
    return proc;
  };
}

/** A plain-HTTP Distribution registry in the node, optionally with htpasswd users (bcrypt lines). */
export async function registryServer(
  name: string,
  root: string,
  nodeIp: string,
  port: number,
  htpasswd?: string,
): Promise<NodeServer> {
  await mkdir(root, { recursive: true });
  const config = join(root, 'config.yml');
  let auth = '';
  if (htpasswd !== undefined) {
    await writeFile(join(root, 'htpasswd'), htpasswd);
    auth = `auth:\n  htpasswd:\n    realm: e2e\n    path: ${join(root, 'htpasswd')}\n`;
  }
  await writeFile(
    config,
    `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(root, 'data')}
  delete:
    enabled: true
http:
  addr: ${nodeIp}:${port}
${auth}`,
  );
  return {
    name,
    binary: 'docker-registry',
    args: ['serve', config],
    ready: async () => {
      const status = (await httpGet(`http://${nodeIp}:${port}/v2/`)).status;
      return status === 200 || status === 401;
    },
  };
}

// --- configuration ---------------------------------------------------------------------------

type NodeCerts = Record<
  | 'apiserverKubelet'
  | 'controllerManager'
  | 'controllerManagerServing'
  | 'scheduler'
  | 'schedulerServing'
  | 'kubelet'
  | 'kubeletServing'
  | 'kubeProxy',
  ServingCert
>;

async function issueNodeCerts(pki: Pki, nodeIp: string): Promise<NodeCerts> {
  // The identities the default RBAC bindings and the Node authorizer know.
  const issuing: Record<keyof NodeCerts, Promise<ServingCert>> = {
    apiserverKubelet: pki.issue('kube-apiserver-kubelet-client', [], 'clientAuth', 'system:masters'),
    controllerManager: pki.issue('system:kube-controller-manager', [], 'clientAuth'),
    controllerManagerServing: pki.issue('kube-controller-manager', [nodeIp], 'serverAuth'),
    scheduler: pki.issue('system:kube-scheduler', [], 'clientAuth'),
    schedulerServing: pki.issue('kube-scheduler', [nodeIp], 'serverAuth'),
    kubelet: pki.issue(`system:node:${NODE_NAME}`, [], 'clientAuth', 'system:nodes'),
    kubeletServing: pki.issue('kubelet', [nodeIp, NODE_NAME], 'serverAuth'),
    kubeProxy: pki.issue('system:kube-proxy', [], 'clientAuth'),
  };
  const issued = await Promise.all(
    Object.entries(issuing).map(async ([key, cert]) => [key, await cert] as const),
  );
  return Object.fromEntries(issued) as NodeCerts;
}

/** Flags kube-controller-manager and kube-scheduler share: where they serve /healthz, no leader election. */
function controlPlaneServing(nodeIp: string, cert: { certPath: string; keyPath: string }): string[] {
  return [
    `--bind-address=${nodeIp}`,
    `--tls-cert-file=${cert.certPath}`,
    `--tls-private-key-file=${cert.keyPath}`,
    '--leader-elect=false',
    '--profiling=false',
  ];
}

function writeKubeconfigs(dir: string, server: string, pki: Pki, certs: NodeCerts) {
  const write = (name: string, cert: { certPath: string; keyPath: string }): string => {
    const path = join(dir, `${name}.kubeconfig`);
    writeFileSync(path, clientKubeconfig(server, pki.caPath, cert), { mode: 0o600 });
    return path;
  };
  return {
    admin: write('admin', pki.admin),
    controllerManager: write('kube-controller-manager', certs.controllerManager),
    scheduler: write('kube-scheduler', certs.scheduler),
    kubelet: write('kubelet', certs.kubelet),
    kubeProxy: write('kube-proxy', certs.kubeProxy),
  };
}

async function writeNodeConfig(
  dir: string,
  nodeIp: string,
  registry: string,
  pauseRef: string,
  pki: Pki,
  certs: NodeCerts,
  cgroupRoot: string,
): Promise<void> {
  const containerd = join(dir, 'containerd');
  for (const sub of [
    'tmp',
    'pod-logs',
    'kubelet/root',
    'kubelet/pki',
    'kubelet/volume-plugins',
    'cni/net.d',
    'certs.d',
  ]) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await mkdir(containerd, { recursive: true });
  await writeRegistryHosts(dir, registry);
  await writeFile(
    join(dir, 'audit-policy.yaml'),
    JSON.stringify({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      omitStages: ['RequestReceived'],
      rules: [
        {
          level: 'Metadata',
          verbs: ['create', 'update', 'patch'],
          resources: [
            { group: 'portcullis.dev', resources: ['clusterimagepolicies/status', 'imagepolicies/status'] },
            { group: '', resources: ['events'] },
            { group: 'events.k8s.io', resources: ['events'] },
          ],
        },
        { level: 'None' },
      ],
    }),
  );
  // containerd 1.6 (Debian). restrict_oom_score_adj: the sandbox cannot lower oom_score_adj
  // (no CAP_SYS_RESOURCE in this VM), and every sandbox fails without it.
  await writeFile(
    join(containerd, 'config.toml'),
    `version = 2
root = "${join(containerd, 'root')}"
state = "${join(containerd, 'state')}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${join(containerd, 'containerd.sock')}"

[plugins."io.containerd.internal.v1.opt"]
  path = "${join(containerd, 'opt')}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseRef}"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${join(dir, 'cni', 'net.d')}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${join(dir, 'certs.d')}"
`,
  );
  // No masquerade and no default route out of the node: pods reach only the bridge, the node's
  // own addresses and other pods.
  await writeFile(
    join(dir, 'cni', 'net.d', '10-e2e.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'e2e',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: join(dir, 'cni', 'ipam'),
            ranges: [[{ subnet: POD_CIDR, gateway: POD_GATEWAY }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
      ],
    }),
  );
  await writeFile(
    join(dir, 'kubelet', 'config.yaml'),
    JSON.stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: nodeIp,
      port: 10250,
      readOnlyPort: 0,
      healthzBindAddress: nodeIp,
      healthzPort: 10248,
      tlsCertFile: certs.kubeletServing.certPath,
      tlsPrivateKeyFile: certs.kubeletServing.keyPath,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: pki.caPath },
      },
      authorization: { mode: 'Webhook' },
      containerRuntimeEndpoint: `unix://${join(containerd, 'containerd.sock')}`,
      cgroupDriver: 'cgroupfs',
      // A cgroup of this cluster's own: two clusters on one machine never touch each other's pods.
      cgroupRoot,
      failCgroupV1: false,
      failSwapOn: false,
      // Kubelet's iptables chains are not needed: kube-proxy programs services.
      makeIPTablesUtilChains: false,
      // The sandbox shows kubelet the values it wants without letting it write them (sandbox.ts).
      protectKernelDefaults: true,
      podLogsDir: join(dir, 'pod-logs'),
      volumePluginDir: join(dir, 'kubelet', 'volume-plugins'),
      resolvConf: '',
      serializeImagePulls: false,
      // The shared machine's disk and memory figures must never evict a test pod.
      evictionHard: {
        'memory.available': '1Mi',
        'nodefs.available': '1%',
        'nodefs.inodesFree': '1%',
        'imagefs.available': '1%',
      },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      shutdownGracePeriod: '0s',
      nodeStatusUpdateFrequency: '2s',
      syncFrequency: '10s',
    }),
  );
  await writeFile(
    join(dir, 'kube-proxy.yaml'),
    JSON.stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'nftables',
      clientConnection: { kubeconfig: join(dir, 'kube-proxy.kubeconfig') },
      hostnameOverride: NODE_NAME,
      clusterCIDR: POD_CIDR,
      bindAddress: nodeIp,
      healthzBindAddress: `${nodeIp}:10256`,
      metricsBindAddress: `${nodeIp}:10249`,
      // Zero: kube-proxy leaves the conntrack settings as they are.
      conntrack: {
        maxPerCore: 0,
        min: 0,
        tcpEstablishedTimeout: '0s',
        tcpCloseWaitTimeout: '0s',
      },
    }),
  );
}

/** Tells containerd that a registry of the node speaks plain HTTP. */
export async function writeRegistryHosts(dir: string, registry: string): Promise<void> {
  const hostDir = join(dir, 'certs.d', registry);
  await mkdir(hostDir, { recursive: true });
  await writeFile(
    join(hostDir, 'hosts.toml'),
    `server = "http://${registry}"\n\n[host."http://${registry}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
}

// --- readiness -------------------------------------------------------------------------------

function socketAccepts(path: string): Promise<boolean> {
  return new Promise((settle) => {
    const socket = connect(path, () => {
      socket.destroy();
      settle(true);
    });
    socket.on('error', () => settle(false));
  });
}

/** Waits for a state of the cluster a component brings about; a timeout names that component's log. */
async function waitFor(
  component: string,
  logPath: string,
  timeoutMs: number,
  what: string,
  check: () => Promise<boolean>,
): Promise<void> {
  await eventually(what, async () => ((await check()) ? true : undefined), timeoutMs, 500).catch((error) => {
    throw new HarnessError(
      'E2E_START_FAILED',
      `starting ${component}: ${what} not reached within ${timeoutMs} ms; log: ${logPath}`,
      {
        cause: error,
      },
    );
  });
}
