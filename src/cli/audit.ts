// `portcullis audit`: the running pods of a cluster judged as the webhook would admit them now
// (a policy file, the cluster's policy CRDs, or a policy CRD not applied yet), through the
// webhook's own checks, pull-secret handling and reasons.
import { readFile } from 'node:fs/promises';
import { Coalescer, createTtlCache, DEFAULT_CACHE_LIMITS, NO_SHARED_CACHE } from '../cache/index.ts';
import type { Digest } from '../image/index.ts';
import type { KubeApi, KubeObject, Watched, WatchedResource } from '../kube/types.ts';
import { POLICY_API_VERSION, POLICY_KINDS, type PolicyKind, type PolicyObject } from '../policy/crd/types.ts';
import type {
  CheckObserver,
  ImageFinding,
  LastKnownGood,
  LastResolution,
  PullSecretSource,
  TrustPolicy,
  Verdict,
} from '../policy/index.ts';
import { DEFAULT_PLATFORMS, parsePlatforms } from '../policy/platforms.ts';
import type { ShortNameRules } from '../server.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io } from './command.ts';

const flags = {
  kubeconfig: {
    type: 'string',
    metavar: 'FILE',
    help: 'the cluster (default: $KUBECONFIG, ~/.kube/config, then in-cluster)',
  },
  policy: {
    type: 'string',
    metavar: 'FILE',
    help: 'judge by this policy.json (beside the policy CRDs when --crds or --shadow is given too)',
  },
  crds: {
    type: 'boolean',
    help: "judge by the cluster's ClusterImagePolicy and ImagePolicy objects (the default without --policy)",
  },
  shadow: {
    type: 'list',
    metavar: 'FILE',
    help: 'a ClusterImagePolicy or ImagePolicy YAML not applied yet, judged as if it were (replacing one of the same name); implies --crds; repeatable',
  },
  'controller-namespace': {
    type: 'string',
    metavar: 'NS',
    help: "the webhook's namespace, where ClusterImagePolicy key references are read (default portcullis-system)",
  },
  namespace: { type: 'list', short: 'n', metavar: 'NS', help: 'only pods in this namespace; repeatable' },
  all: { type: 'boolean', help: 'list passing images too' },
  json: { type: 'boolean', help: 'print the results as JSON' },
  'registries.d': { type: 'string', metavar: 'DIR', help: 'registries.d directory (signature storage)' },
  'registries-conf': { type: 'string', metavar: 'FILE', help: 'registries.conf (mirrors, short names)' },
  'short-names': {
    type: 'string',
    metavar: 'MODE',
    help: 'pod images without a registry: docker (default) or registries-conf, as for serve',
  },
  authfile: { type: 'string', metavar: 'FILE', help: 'auth.json with registry credentials for every pod' },
  platforms: {
    type: 'string',
    metavar: 'LIST',
    help: `multi-arch images: the platforms verified, as for serve (default ${DEFAULT_PLATFORMS})`,
  },
  concurrency: { type: 'string', metavar: 'N', help: 'images verified at once (default 4)' },
  timeout: {
    type: 'string',
    metavar: 'SECONDS',
    help: 'give up on one image (and on listing the cluster) after this long (default 30)',
  },
} as const;

const usage = `Usage: portcullis audit [FLAGS]

Judges the images of the pods running in a cluster as the webhook would admit them now, each
distinct image once, and lists every image of every workload (Deployment, StatefulSet, CronJob,
bare Pod, ...) that would be refused, with the reason the webhook would give. A denial in any
mode (enforce, warn, audit) is a failure: this is what switching to enforce would deny.

Exit 0 when every image passes, 1 when any would be refused (or could not be verified), 2 on
usage errors and when the audit could not run (the cluster or a policy unreadable).

Flags:
${formatFlags(flags)}
`;

const SHORT_NAMES: readonly ShortNameRules[] = ['docker', 'registries-conf'];

function positiveNumber(name: string, text: string, max: number): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || n <= 0 || n > max) {
    throw new CliError('USAGE', `invalid --${name} ${JSON.stringify(text)}: expected a number up to ${max}`);
  }
  return n;
}

/** Policy CRD objects read from YAML files, checked to be ClusterImagePolicy or ImagePolicy. */
async function readShadows(
  files: readonly string[],
  parse: (text: string) => unknown[],
): Promise<{ kind: PolicyKind; object: PolicyObject }[]> {
  const out: { kind: PolicyKind; object: PolicyObject }[] = [];
  for (const file of files) {
    let documents: unknown[];
    try {
      documents = parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new CliError('FAILED', `reading --shadow ${file}: ${(err as Error).message}`);
    }
    for (const doc of documents) {
      const o = doc as {
        apiVersion?: unknown;
        kind?: unknown;
        metadata?: { name?: unknown; namespace?: unknown };
      };
      const kind = o.kind as PolicyKind;
      if (o.apiVersion !== POLICY_API_VERSION || !Object.hasOwn(POLICY_KINDS, kind)) {
        throw new CliError(
          'USAGE',
          `--shadow ${file}: expected ${POLICY_API_VERSION} ClusterImagePolicy or ImagePolicy objects, got ${String(o.apiVersion)} ${String(o.kind)}`,
        );
      }
      const name = o.metadata?.name;
      const namespace = o.metadata?.namespace;
      if (
        typeof name !== 'string' ||
        name === '' ||
        (POLICY_KINDS[kind].namespaced && typeof namespace !== 'string')
      ) {
        throw new CliError(
          'USAGE',
          `--shadow ${file}: a ${kind} needs metadata.name${POLICY_KINDS[kind].namespaced ? ' and metadata.namespace' : ''}`,
        );
      }
      const metadata = {
        ...(doc as PolicyObject).metadata,
        generation: 1,
        uid: `shadow/${kind}/${String(namespace ?? '')}/${name}`,
      };
      out.push({ kind, object: { ...(doc as PolicyObject), metadata } });
    }
  }
  return out;
}

/** The cluster's policy objects with the shadow ones in place, as the controller lists and watches them. */
class ShadowWatched<T extends KubeObject> implements Watched<T> {
  readonly #inner: Watched<T>;
  readonly #shadows: ReadonlyMap<string, T>;

  constructor(inner: Watched<T>, shadows: readonly T[]) {
    this.#inner = inner;
    this.#shadows = new Map(
      shadows.map((s) => [`${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`, s]),
    );
  }

  on(event: 'add' | 'update' | 'delete' | 'error', handler: (arg: never) => void): void {
    this.#inner.on(event as 'error', handler as (err: unknown) => void);
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  stop(): Promise<void> {
    return this.#inner.stop();
  }

  list(): readonly T[] {
    const real = this.#inner
      .list()
      .filter((o) => !this.#shadows.has(`${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`));
    return [...real, ...this.#shadows.values()];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#shadows.get(`${namespace ?? ''}/${name}`) ?? this.#inner.get(name, namespace);
  }
}

function withShadows(api: KubeApi, shadows: readonly { kind: PolicyKind; object: PolicyObject }[]): KubeApi {
  return new Proxy(api, {
    get(target, property) {
      if (property !== 'watch') {
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return <T extends KubeObject>(what: WatchedResource): Watched<T> => {
        const inner = target.watch<T>(what);
        const kind = (Object.keys(POLICY_KINDS) as PolicyKind[]).find(
          (k) => POLICY_KINDS[k].plural === what.resource,
        );
        if (kind === undefined) return inner;
        const mine = shadows.filter((s) => s.kind === kind).map((s) => s.object as unknown as T);
        return mine.length === 0 ? inner : new ShadowWatched(inner, mine);
      };
    },
  });
}

/** Fails with `what` when `work` has not settled within `ms`. */
async function within<T>(what: () => string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CliError('FAILED', `${what()}: not done within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const NO_OBSERVER: CheckObserver = { stage: () => {}, cache: () => {}, registryRequest: () => {} };

const ownerName = (f: ImageFinding) => `${f.owner.kind}/${f.owner.name}`;

function table(findings: readonly ImageFinding[]): string {
  const rows = findings.map((f) => [f.namespace, ownerName(f), f.image, f.result, f.message]);
  const head = ['NAMESPACE', 'WORKLOAD', 'IMAGE', 'RESULT', 'REASON'];
  const widths = head
    .slice(0, 4)
    .map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const line = (r: readonly string[]) =>
    [...r.slice(0, 4).map((c, i) => c.padEnd(widths[i]!)), r[4]].join('  ').trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}

export const auditCommand: Command = {
  usage,
  async run(argv, io: Io) {
    try {
      return await audit(argv, io);
    } catch (err) {
      if (err instanceof CliError && err.code === 'USAGE') throw err;
      // Exit 1 means "something would be refused": an audit that could not run says 2.
      io.stderr.write(`portcullis audit: ${err instanceof Error ? err.message : String(err)}\n`);
      return 2;
    }
  },
};

async function audit(argv: readonly string[], io: Io): Promise<number> {
  const { flags: f, positionals } = parseArgs(argv, flags);
  if (positionals.length > 0)
    throw new CliError('USAGE', `unexpected argument ${JSON.stringify(positionals[0])}`);
  const useCrds = f.crds === true || f.shadow.length > 0 || f.policy === undefined;
  const timeoutMs = positiveNumber('timeout', f.timeout ?? '30', 600) * 1000;
  const concurrency = Math.floor(positiveNumber('concurrency', f.concurrency ?? '4', 64));
  const shortNames = (f['short-names'] ?? 'docker') as ShortNameRules;
  if (!SHORT_NAMES.includes(shortNames)) {
    throw new CliError(
      'USAGE',
      `invalid --short-names ${JSON.stringify(shortNames)}: expected docker or registries-conf`,
    );
  }
  let platforms: ReturnType<typeof parsePlatforms>;
  try {
    platforms = parsePlatforms(f.platforms ?? DEFAULT_PLATFORMS);
  } catch (err) {
    throw new CliError('USAGE', `invalid --platforms: ${(err as Error).message}`);
  }
  // Loaded here so `--help` stays light.
  const [{ productionComponents }, kube, policy] = await Promise.all([
    import('../server.ts'),
    import('../kube/index.ts'),
    import('../policy/index.ts'),
  ]);
  const shadows = await readShadows(f.shadow, kube.parseYamlDocuments);
  const components = productionComponents({
    registriesDirPath: f['registries.d'],
    registriesConfPath: f['registries-conf'],
    authFilePath: f.authfile,
    shortNames,
  });
  const kc = kube.loadKubeConfig(f.kubeconfig);
  const baseApi = new kube.ClientKubeApi(kc);
  const api = withShadows(baseApi, shadows);
  const failures: string[] = [];
  const informer = {
    ...kube.DEFAULT_INFORMER_OPTIONS,
    maxDelayMs: 2000,
    onError: (err: unknown) => failures.push(err instanceof Error ? err.message : String(err)),
  };
  const listing = () => `listing the cluster${failures.length > 0 ? ` (${failures.at(-1)})` : ''}`;
  const pullSecrets = new kube.KubePullSecrets(api, informer);
  const pods = new kube.RunningPods(new kube.KubeRest(kc), { informer, onChange: () => {} });
  // A controller that never holds the Lease: it compiles, and writes no status.
  const leader = new kube.LeaderElector(api, {
    namespace: f['controller-namespace'] ?? 'portcullis-system',
    name: 'portcullis-audit',
    identity: 'audit',
    leaseDurationSeconds: 15,
    retryPeriodMs: 2000,
    now: () => new Date(),
    onError: () => {},
  });
  const controller = useCrds
    ? new kube.PolicyController<TrustPolicy>({
        api,
        compile: components.compilePolicy,
        controllerNamespace: f['controller-namespace'] ?? 'portcullis-system',
        leader,
        informer,
        refLoadTimeoutMs: 5000,
        now: () => new Date(),
        onError: (err, context) =>
          failures.push(`${context}: ${err instanceof Error ? err.message : String(err)}`),
      })
    : undefined;
  try {
    const file = f.policy === undefined ? undefined : await components.loadPolicy(f.policy);
    await within(listing, timeoutMs, Promise.all([pullSecrets.start(), pods.start(), controller?.start()]));
    for (const s of shadows) {
      const probe = s.kind === 'ImagePolicy' ? (s.object.metadata.namespace ?? '') : '\0any namespace';
      const key = `${s.kind}/${s.kind === 'ImagePolicy' ? `${s.object.metadata.namespace}/` : ''}${s.object.metadata.name}`;
      const found = controller?.policiesFor(probe).find((p) => p.key === key);
      if (found?.state === 'failed') throw new CliError('FAILED', `--shadow ${key}: ${found.reason}`);
    }
    const caches = {
      resolver: components.resolver,
      verdicts: createTtlCache<Verdict>(DEFAULT_CACHE_LIMITS.maxEntries),
      digests: createTtlCache<{ digest: Digest }>(DEFAULT_CACHE_LIMITS.maxEntries),
      resolutions: new Coalescer<Digest>(timeoutMs),
      evaluations: new Coalescer<Verdict>(timeoutMs),
      platforms,
      ...DEFAULT_CACHE_LIMITS,
      // An audit reports what the registry says now: no earlier verification stands in for it.
      stale: {
        windowMs: 0,
        verdicts: createTtlCache<LastKnownGood>(1),
        resolutions: createTtlCache<LastResolution>(1),
      },
      shared: NO_SHARED_CACHE,
      observer: NO_OBSERVER,
    };
    const secrets: PullSecretSource = pullSecrets;
    const workloads = policy.createWorkloadPolicies({
      mode: 'enforce',
      file: file === undefined ? undefined : () => file,
      crds: controller === undefined ? undefined : () => ({ state: 'synced', policies: controller }),
      caches,
      pullSecrets: secrets,
    });
    const namespaces = f.namespace.length === 0 ? undefined : new Set(f.namespace);
    const scan = await policy.scanRunning(workloads, pods.pods(namespaces), { fresh: true, concurrency });
    const findings = scan.findings.sort(
      (a, b) =>
        a.namespace.localeCompare(b.namespace) ||
        ownerName(a).localeCompare(ownerName(b)) ||
        a.image.localeCompare(b.image),
    );
    const refused = findings.filter((x) => x.result !== 'pass');
    const owners = new Set(findings.map((x) => `${x.namespace}/${x.owner.uid}`));
    const refusedOwners = new Set(refused.map((x) => `${x.namespace}/${x.owner.uid}`));
    const summary = {
      workloads: owners.size,
      refusedWorkloads: refusedOwners.size,
      images: findings.length,
      distinctVerifications: scan.distinct,
      pass: findings.length - refused.length,
      fail: refused.filter((x) => x.result === 'fail').length,
      error: refused.filter((x) => x.result === 'error').length,
    };
    const shown = f.all === true ? findings : refused;
    if (f.json === true) {
      io.stdout.write(`${JSON.stringify({ summary, results: shown }, null, 2)}\n`);
    } else {
      if (shown.length > 0) io.stdout.write(table(shown));
      io.stdout.write(
        `${summary.refusedWorkloads} of ${summary.workloads} workloads would be refused: ${summary.fail} images fail, ${summary.error} could not be verified, ${summary.pass} pass\n`,
      );
    }
    return refused.length > 0 ? 1 : 0;
  } finally {
    await Promise.all([pullSecrets.stop(), pods.stop(), controller?.stop()]);
  }
}
