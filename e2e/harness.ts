// The e2e harness: a real etcd and kube-apiserver on loopback, with a generated CA, an admin
// kubeconfig and helpers to run kubectl and helm against them. Webhooks that run on the host are
// registered by `url:` (there is no kube-proxy and no in-cluster networking here).
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const buildScript = join(repoRoot, 'e2e', 'tools', 'build.sh');

export type HarnessErrorCode =
  | 'E2E_BUILD_FAILED'
  | 'E2E_TOOL_MISSING'
  | 'E2E_CERT_FAILED'
  | 'E2E_START_FAILED'
  | 'E2E_COMMAND_FAILED'
  | 'E2E_TIMEOUT';

export class HarnessError extends Error {
  readonly code: HarnessErrorCode;
  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HarnessError';
    this.code = code;
  }
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  /** Written to the command's stdin, which is closed afterwards. */
  input?: string;
  /** The command is killed after this long; default 60 s. */
  timeoutMs?: number;
  env?: Record<string, string>;
}

export interface Binaries {
  kubeApiserver: string;
  kubectl: string;
  etcd: string;
  helm: string;
}

export interface ServingCert {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

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

/** Builds (first run) or finds (cached) the binaries; see e2e/tools/build.sh. */
export async function ensureBinaries(): Promise<Binaries> {
  const result = await run('bash', [buildScript], { timeoutMs: 80 * 60_000, stderrTo: process.stderr });
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
  const pick = (name: string): string => {
    const path = paths.get(name);
    if (path === undefined) {
      throw new HarnessError(
        'E2E_BUILD_FAILED',
        `building e2e binaries: build.sh reported no path for ${name}`,
      );
    }
    return path;
  };
  return {
    kubeApiserver: pick('kube-apiserver'),
    kubectl: pick('kubectl'),
    etcd: pick('etcd'),
    helm: pick('helm'),
  };
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
    const helmHome = join(dir, 'helm');
    const kubectl = (args: string[], opts: CommandOptions = {}) =>
      run(binaries.kubectl, [`--kubeconfig=${kubeconfig}`, ...args], opts);
    const helm = (args: string[], opts: CommandOptions = {}) =>
      run(binaries.helm, [`--kubeconfig=${kubeconfig}`, ...args], {
        ...opts,
        env: {
          HELM_CACHE_HOME: join(helmHome, 'cache'),
          HELM_CONFIG_HOME: join(helmHome, 'config'),
          HELM_DATA_HOME: join(helmHome, 'data'),
          ...opts.env,
        },
      });

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

/** Polls `check` until it returns a value other than undefined, or fails with its last error. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new HarnessError('E2E_TIMEOUT', `${what}: not reached within ${timeoutMs} ms`, {
        cause: lastError,
      });
    }
    await sleep(intervalMs);
  }
}

// --- processes -------------------------------------------------------------------------------

interface Supervised {
  readonly name: string;
  readonly logPath: string;
  /** Set once the process has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

function killAllNow(): void {
  for (const child of running) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  running.clear();
}

let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllNow();
      process.kill(process.pid, signal);
    });
  }
}

// Runs the server under a bash guard in its own process group. The guard forwards SIGTERM, reports
// the server's exit status, and kills the whole group when its stdin (a pipe from this process)
// closes: so the servers die with the harness even when Node itself is killed with SIGKILL.
const guardScript = [
  'exec 3<&0',
  '"$@" </dev/null 3<&- &',
  'server=$!',
  '{ while read -r _; do :; done; kill -KILL 0; } <&3 &',
  'guard=$!',
  'exec 3<&-',
  'trap \'kill -TERM "$server" 2>/dev/null\' TERM INT',
  // The first wait also collects the status of a server that exited before the loop could see it.
  'wait "$server"; status=$?',
  'while kill -0 "$server" 2>/dev/null; do wait "$server"; status=$?; done',
  'kill "$guard" 2>/dev/null',
  'exit "$status"',
].join('\n');

function supervise(name: string, binary: string, logPath: string, args: string[]): Supervised {
  installExitHooks();
  const log = openSync(logPath, 'a');
  const child = spawn('bash', ['-c', guardScript, name, binary, ...args], {
    detached: true,
    stdio: ['pipe', log, log],
    env: childEnv(),
  });
  closeSync(log);
  running.add(child);
  const exited = new Promise<void>((settle) => {
    child.once('exit', (code, signal) => {
      supervised.exit = { code, signal };
      running.delete(child);
      settle();
    });
  });
  child.once('error', (error) => {
    writeFileSync(logPath, `e2e harness: spawning ${name}: ${error.message}\n`, { flag: 'a' });
  });
  child.unref();
  const supervised: Supervised = {
    name,
    logPath,
    exit: undefined,
    stop: async () => {
      if (supervised.exit !== undefined || child.pid === undefined) return;
      child.kill('SIGTERM');
      const graceful = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!graceful) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await exited;
      }
      running.delete(child);
    },
  };
  return supervised;
}

async function waitReady(proc: Supervised, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exit !== undefined) {
      const how = proc.exit.signal ?? `code ${proc.exit.code}`;
      throw startFailure(proc, `exited (${how}) before it was ready`);
    }
    if (await ready().catch(() => false)) return;
    if (Date.now() >= deadline) throw startFailure(proc, `not ready within ${timeoutMs} ms`);
    await sleep(250);
  }
}

function startFailure(proc: Supervised, detail: string): HarnessError {
  let tail = '';
  try {
    tail = lastLines(readFileSync(proc.logPath, 'utf8'), 30);
  } catch {
    tail = '(no log written)';
  }
  return new HarnessError(
    'E2E_START_FAILED',
    `starting ${proc.name}: ${detail}; log: ${proc.logPath}\n${tail.replace(/^/gm, '  | ')}`,
  );
}

interface RunOptions extends CommandOptions {
  stderrTo?: NodeJS.WritableStream;
}

/** Runs a command to completion; a missing binary or a timeout is a HarnessError, an exit code is not. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((settle, fail) => {
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...childEnv(), ...options.env },
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      options.stderrTo?.write(chunk);
    });
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(
        new HarnessError(
          'E2E_TIMEOUT',
          `running ${command} ${args.join(' ')}: no exit within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      fail(new HarnessError('E2E_TOOL_MISSING', `running ${command}: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      settle({
        code: code ?? (signal === null ? 1 : 128),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

// The servers and webhooks all live on loopback: no proxy may stand between them.
function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(https?|all|no)_proxy$/i.test(key)) env[key] = value;
  }
  env.NO_PROXY = '127.0.0.1,localhost';
  return env;
}

// --- certificates ----------------------------------------------------------------------------

interface Pki {
  caPath: string;
  caPem: string;
  apiserver: ServingCert;
  admin: ServingCert;
  serviceAccountKeyPath: string;
  issue(
    name: string,
    hosts: string[],
    usage: 'serverAuth' | 'clientAuth',
    org?: string,
  ): Promise<ServingCert>;
}

async function createPki(dir: string): Promise<Pki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKeyPath = join(dir, 'ca.key');
  const caPath = join(dir, 'ca.crt');
  writeKey(caKeyPath);
  await openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    caKeyPath,
    '-subj',
    '/CN=portcullis-e2e-ca',
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    caPath,
  ]);

  const issue = async (
    name: string,
    hosts: string[],
    usage: 'serverAuth' | 'clientAuth',
    org?: string,
  ): Promise<ServingCert> => {
    const safe = name.replace(/[^a-zA-Z0-9.-]/g, '_');
    const keyPath = join(dir, `${safe}.key`);
    const csrPath = join(dir, `${safe}.csr`);
    const certPath = join(dir, `${safe}.crt`);
    const extPath = join(dir, `${safe}.ext`);
    writeKey(keyPath);
    const subject = org === undefined ? `/CN=${name}` : `/O=${org}/CN=${name}`;
    await openssl(['req', '-new', '-key', keyPath, '-subj', subject, '-out', csrPath]);
    const sans = hosts.map((host) => (/^[\d.]+$|:/.test(host) ? `IP:${host}` : `DNS:${host}`));
    writeFileSync(
      extPath,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=${usage}`,
        ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
      ].join('\n'),
    );
    await openssl([
      'x509',
      '-req',
      '-in',
      csrPath,
      '-CA',
      caPath,
      '-CAkey',
      caKeyPath,
      // A random serial per certificate: a shared serial file breaks concurrent issuing.
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-days',
      '2',
      '-extfile',
      extPath,
      '-out',
      certPath,
    ]);
    return {
      certPath,
      keyPath,
      certPem: readFileSync(certPath, 'utf8'),
      keyPem: readFileSync(keyPath, 'utf8'),
    };
  };

  const apiserver = await issue(
    'kube-apiserver',
    ['127.0.0.1', 'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', '10.96.0.1'],
    'serverAuth',
  );
  // system:masters is the group kube-apiserver authorizes for everything, with or without RBAC objects.
  const admin = await issue('portcullis-e2e-admin', [], 'clientAuth', 'system:masters');
  const serviceAccountKeyPath = join(dir, 'service-account.key');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(serviceAccountKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { caPath, caPem: readFileSync(caPath, 'utf8'), apiserver, admin, serviceAccountKeyPath, issue };
}

function writeKey(path: string): void {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
}

async function openssl(args: string[]): Promise<void> {
  const result = await run('openssl', args, { timeoutMs: 30_000 });
  if (result.code !== 0) {
    throw new HarnessError('E2E_CERT_FAILED', `openssl ${args[0]}: ${result.stderr.trim()}`);
  }
}

function serviceAccountKubeconfig(
  server: string,
  pki: Pki,
  user: string,
  namespace: string,
  token: string,
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'e2e',
        cluster: { server, 'certificate-authority-data': Buffer.from(pki.caPem).toString('base64') },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'e2e', user, namespace } }],
    'current-context': user,
  });
}

function adminKubeconfig(server: string, pki: Pki): string {
  const b64 = (pem: string) => Buffer.from(pem).toString('base64');
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server, 'certificate-authority-data': b64(pki.caPem) } }],
      users: [
        {
          name: 'admin',
          user: {
            'client-certificate-data': b64(pki.admin.certPem),
            'client-key-data': b64(pki.admin.keyPem),
          },
        },
      ],
      contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'admin' } }],
      'current-context': 'e2e',
    },
    null,
    2,
  );
}

// --- small helpers ---------------------------------------------------------------------------

async function freePorts(count: number): Promise<number[]> {
  // Held open together so that the ports handed out differ from each other.
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      const server = createServer();
      return new Promise<ReturnType<typeof createServer>>((settle, fail) => {
        server.once('error', fail);
        server.listen(0, '127.0.0.1', () => settle(server));
      });
    }),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('free port: no TCP address');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((settle) => server.close(settle))));
  return ports;
}

interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

function httpGet(url: string, tls?: TlsMaterial): Promise<{ status: number; body: string }> {
  return new Promise((settle, fail) => {
    const target = new URL(url);
    const req = (target.protocol === 'https:' ? request : httpRequest)(
      target,
      { method: 'GET', timeout: 5_000, ...(tls ?? {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          settle({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', fail);
    req.end();
  });
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((settle) => setTimeout(settle, ms));
}
