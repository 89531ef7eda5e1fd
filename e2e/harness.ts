// The e2e harness's control plane: a real etcd and kube-apiserver on loopback, with a generated
// CA, an admin kubeconfig and kubectl and helm acting with it. Webhooks that run on the host are
// registered by `url:` (there is no kube-proxy and no in-cluster networking here); node.ts adds a
// cluster with a node for what must run in pods. The parts, as envtest splits them: binaries.ts,
// processes.ts, ports.ts, pki.ts, kubeconfig.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Binaries, ensureBinaries } from './binaries.ts';
import { adminKubeconfig, kubeClients, serviceAccountKubeconfig } from './kubeconfig.ts';
import { createPki, type ServingCert } from './pki.ts';
import { freePorts } from './ports.ts';
import {
  type CommandOptions,
  type CommandResult,
  HarnessError,
  httpGet,
  type Supervised,
  supervise,
  waitReady,
} from './processes.ts';

export type { ServingCert } from './pki.ts';
export {
  type CommandOptions,
  type CommandResult,
  eventually,
  HarnessError,
  type HarnessErrorCode,
  run,
} from './processes.ts';

export interface WebhookRegistration {
  /** Names the configuration and its one webhook: a domain of three or more labels, e.g. check.e2e.example. */
  name: string;
  /** https URL of the webhook endpoint, e.g. https://127.0.0.1:8443/validate. */
  url: string;
  kind?: 'validating' | 'mutating';
  failurePolicy?: 'Fail' | 'Ignore';
  timeoutSeconds?: number;
  /** Only objects in namespaces carrying all of these labels are sent to the webhook. */
  namespaceLabels?: Record<string, string>;
  rules?: WebhookRule[];
  /** PEM bundle the API server trusts for this endpoint; default: the harness CA. */
  caBundlePem?: string;
}

export interface WebhookRule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
  scope?: 'Cluster' | 'Namespaced' | '*';
}

export interface Cluster {
  /** Folder holding certificates, kubeconfig, data and logs of this cluster. */
  readonly dir: string;
  readonly kubeconfig: string;
  /** https URL of the API server. */
  readonly server: string;
  /** PEM of the CA that signed every certificate the harness issued. */
  readonly caPem: string;
  readonly caPath: string;
  readonly binaries: Binaries;
  kubectl(args: string[], options?: CommandOptions): Promise<CommandResult>;
  helm(args: string[], options?: CommandOptions): Promise<CommandResult>;
  /** A serving certificate signed by the harness CA, for a webhook or registry on the host. */
  issueServingCert(name: string, hosts?: string[]): Promise<ServingCert>;
  /** Creates or replaces a webhook configuration that calls a host process by `url:`. */
  registerWebhook(webhook: WebhookRegistration): Promise<void>;
  /** Deletes every validating and mutating webhook configuration; they are not subject to webhooks. */
  deleteWebhooks(): Promise<void>;
  /** Writes a kubeconfig at `path` that acts as ServiceAccount `namespace/name` (a fresh token). */
  serviceAccountKubeconfig(namespace: string, name: string, path: string): Promise<string>;
  /** Stops every process the harness started; safe to call twice, never throws. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Keep the cluster folder after stop (also with PORTCULLIS_E2E_KEEP=1), for reading logs. */
  keepDir?: boolean;
  /** How long each component may take to become ready; default 90 s. */
  readyTimeoutMs?: number;
  /** Replaces built binaries, e.g. to prove how a component that cannot start is reported. */
  binaries?: Partial<Binaries>;
}

/**
 * Starts etcd and kube-apiserver on loopback. The caller must call stop(), in an `after` hook;
 * the processes are also killed when this Node process exits or its parent goes away.
 */
export async function startCluster(options: StartOptions = {}): Promise<Cluster> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 90_000;
  const keepDir = options.keepDir ?? process.env.PORTCULLIS_E2E_KEEP === '1';
  const binaries = { ...(await ensureBinaries()), ...options.binaries };
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-e2e-'));
  const processes: Supervised[] = [];
  let stopped = false;

  const stop = async (keep = keepDir): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Killing the processes needs no API call, so a fail-closed webhook cannot block it.
    for (const proc of [...processes].reverse()) await proc.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };

  try {
    const pki = await createPki(join(dir, 'pki'));
    const [etcdClientPort, etcdPeerPort, apiPort] = await freePorts(3);
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const server = `https://127.0.0.1:${apiPort}`;

    const etcd = supervise('etcd', binaries.etcd, join(dir, 'etcd.log'), [
      '--name=e2e',
      `--data-dir=${join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=e2e=http://127.0.0.1:${etcdPeerPort}`,
      // A throwaway test store: durability costs fsyncs the shared machine cannot spare.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    processes.push(etcd);
    await waitReady(etcd, readyTimeoutMs, async () => {
      const health = await httpGet(`${etcdUrl}/health`);
      return health.status === 200 && health.body.includes('"health":"true"');
    });

    const apiserver = supervise('kube-apiserver', binaries.kubeApiserver, join(dir, 'kube-apiserver.log'), [
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--etcd-servers=${etcdUrl}`,
      `--tls-cert-file=${pki.apiserver.certPath}`,
      `--tls-private-key-file=${pki.apiserver.keyPath}`,
      `--client-ca-file=${pki.caPath}`,
      '--authorization-mode=RBAC',
      // Without kube-controller-manager no ServiceAccount objects or tokens are ever created, so
      // the plugin that requires them would refuse every pod.
      '--disable-admission-plugins=ServiceAccount',
      '--enable-admission-plugins=NamespaceLifecycle,ValidatingAdmissionPolicy,MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
      `--service-account-key-file=${pki.serviceAccountKeyPath}`,
      `--service-account-signing-key-file=${pki.serviceAccountKeyPath}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      // Endpoints may not point at loopback, and nothing in this cluster routes to them.
      '--endpoint-reconciler-type=none',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      '--profiling=false',
    ]);
    processes.push(apiserver);
    const adminTls = { ca: pki.caPem, cert: pki.admin.certPem, key: pki.admin.keyPem };
    await waitReady(apiserver, readyTimeoutMs, async () => {
      const ready = await httpGet(`${server}/readyz`, adminTls);
      if (ready.status !== 200) return false;
      // The default namespace is created shortly after the server reports ready.
      return (await httpGet(`${server}/api/v1/namespaces/default`, adminTls)).status === 200;
    });

    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, adminKubeconfig(server, pki), { mode: 0o600 });
    const { kubectl, helm } = kubeClients(binaries, kubeconfig, join(dir, 'helm'));

    const deleteWebhooks = async (): Promise<void> => {
      const result = await kubectl(
        ['delete', 'validatingwebhookconfigurations,mutatingwebhookconfigurations', '--all', '--wait=false'],
        { timeoutMs: 30_000 },
      );
      if (result.code !== 0) {
        throw new HarnessError(
          'E2E_COMMAND_FAILED',
          `deleting webhook configurations: ${result.stderr.trim()}`,
        );
      }
    };

    return {
      dir,
      kubeconfig,
      server,
      caPem: pki.caPem,
      caPath: pki.caPath,
      binaries,
      kubectl,
      helm,
      issueServingCert: (name, hosts) => pki.issue(name, hosts ?? ['127.0.0.1', 'localhost'], 'serverAuth'),
      registerWebhook: async (webhook) => {
        const result = await kubectl(['apply', '-f', '-'], {
          input: JSON.stringify(webhookConfiguration(webhook, webhook.caBundlePem ?? pki.caPem)),
        });
        if (result.code !== 0) {
          throw new HarnessError(
            'E2E_COMMAND_FAILED',
            `registering webhook ${webhook.name}: ${result.stderr.trim()}`,
          );
        }
      },
      deleteWebhooks,
      serviceAccountKubeconfig: async (namespace, name, path) => {
        const token = await kubectl(['create', 'token', name, '-n', namespace, '--duration=1h']);
        if (token.code !== 0) {
          throw new HarnessError(
            'E2E_COMMAND_FAILED',
            `creating a token for ${namespace}/${name}: ${token.stderr.trim()}`,
          );
        }
        writeFileSync(path, serviceAccountKubeconfig(server, pki, name, namespace, token.stdout.trim()));
        return path;
      },
      stop: async () => {
        if (!stopped) {
          // Leaves a clean API behind for anyone reading the kept folder; the kill below does not need it.
          await deleteWebhooks().catch(() => undefined);
        }
        await stop();
      },
    };
  } catch (error) {
    // The folder stays: the error names the log in it.
    await stop(true);
    throw error;
  }
}

function webhookConfiguration(webhook: WebhookRegistration, caBundlePem: string): object {
  const kind = webhook.kind ?? 'validating';
  const entry: Record<string, unknown> = {
    name: webhook.name,
    clientConfig: { url: webhook.url, caBundle: Buffer.from(caBundlePem).toString('base64') },
    rules: webhook.rules ?? [
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods'] },
    ],
    failurePolicy: webhook.failurePolicy ?? 'Fail',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: webhook.timeoutSeconds ?? 5,
  };
  if (webhook.namespaceLabels !== undefined) {
    entry.namespaceSelector = { matchLabels: webhook.namespaceLabels };
  }
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: kind === 'validating' ? 'ValidatingWebhookConfiguration' : 'MutatingWebhookConfiguration',
    metadata: { name: webhook.name, labels: { 'app.kubernetes.io/managed-by': 'portcullis-e2e' } },
    webhooks: [entry],
  };
}
