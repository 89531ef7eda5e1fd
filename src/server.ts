// Composition root of the webhook: wires policy, caches, metrics, logs and TLS into a listener.
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { Coalescer, createTtlCache, NO_SHARED_CACHE, type SharedCache, sharedCache } from './cache/index.ts';
import {
  type Digest,
  type InstanceSelection,
  loadKeyring,
  parsePublicKeyPem,
  type SystemContext,
} from './image/index.ts';
import { pullSources } from './image/registries/registries-conf.ts';
import { sigstoreVerifier } from './image/signature/index.ts';
import {
  clientFor,
  DockerTransport,
  imageCandidates,
  onRequest,
  processEnvironment,
  type RegistryBudget,
  RegistrySession,
  registriesConfFor,
} from './image/transports/docker/index.ts';
import {
  type BackgroundObserver,
  createWorkloadPolicies,
  type DigestLookup,
  type ExceptionSource,
  type LastKnownGood,
  type LastResolution,
  loadInlineKeys,
  loadPolicy,
  loadPolicyText,
  NO_PULL_SECRETS,
  type PolicySource,
  type PullSecretSource,
  RegistryResolver,
  type Resolver,
  type TrustPolicy,
  type Verdict,
  type WorkloadPolicies,
} from './policy/index.ts';
import type { Mode } from './webhook/admit.ts';
import { buildApp } from './webhook/app.ts';
import { createLogger, type LogDestination, type Logger, type LogLevel } from './webhook/log.ts';
import { createMetrics, type Metrics } from './webhook/metrics.ts';
import { WebhookError } from './webhook/review.ts';
import { type CertificateSource, fileCertificateSource, selfSignedPair, watchFiles } from './webhook/tls.ts';

export interface ServerConfig {
  /** policy.json; undefined = the embedded default, or none when Components.crds is given. */
  readonly policyPath: string | undefined;
  readonly host: string;
  readonly port: number;
  /** The serving certificate and key files, reloaded when they change; unused with Components.certificates. */
  readonly tlsCertPath: string | undefined;
  readonly tlsKeyPath: string | undefined;
  readonly deadlineMs: number;
  readonly mode: Mode;
  readonly unknownKinds: 'allow' | 'deny';
  readonly bodyLimit: number;
  readonly logLevel: LogLevel;
  /** The instances of multi-arch images that are verified (src/policy/platforms.ts). */
  readonly platforms: InstanceSelection;
  /** How often certificate, key and policy files are checked for changes. */
  readonly watchIntervalMs: number;
  /**
   * After SIGTERM: how long the listener keeps accepting (every answer closing its connection)
   * before it stops, so that the endpoint is gone from every kube-proxy first.
   */
  readonly shutdownDelayMs: number;
  /**
   * After the shutdown delay: how long to wait for clients to close their kept-alive connections
   * before closing the ones left. 0 closes idle connections at once. An HTTP/1.1 server that
   * closes an idle connection races a client sending on it, and the API server does not retry a
   * POST cut so; waiting past the client's idle timeout (Go's is 90 s) leaves it no such race.
   */
  readonly drainTimeoutMs?: number;
  readonly cache: {
    readonly maxEntries: number;
    readonly allowedTtlMs: number;
    readonly deniedTtlMs: number;
    readonly digestTtlMs: number;
    /** Stale-if-error window for verified digests and their tags; 0 turns it off. */
    readonly staleIfErrorMs: number;
  };
  /** The verdict cache shared by the replicas; undefined: each replica on its own. */
  readonly sharedCache?: SharedCacheConfig;
}

export interface SharedCacheConfig {
  /** redis:// or rediss:// */
  readonly url: string;
  readonly password?: string;
  /** PEM CA certificates trusted for rediss:// */
  readonly ca?: string;
  /** The key every replica signs and checks shared records with (at least 32 bytes). */
  readonly secret: Uint8Array;
  /** Longest wait for one Redis command; default DEFAULT_REDIS_BOUNDS.commandTimeoutMs. */
  readonly commandTimeoutMs?: number;
}

/** The parts a caller provides: the real ones in the CLI, fakes for faults in tests. */
export interface Components {
  /** Loads and compiles the policy (and the trust material it names); throws when invalid. */
  loadPolicy(path: string | undefined): Promise<TrustPolicy>;
  readonly resolver: Resolver;
  readonly pullSecrets: PullSecretSource;
  /**
   * The policy CRD controller (`serve --watch-policies`), settling after its first sync: its
   * policies apply in addition to the file's, and its pull secrets replace `pullSecrets`.
   */
  readonly crds?: Promise<PolicyCrds>;
  /** Where logs go; default stdout. */
  readonly logDestination?: LogDestination;
  /**
   * The serving certificate from elsewhere than files (the self-managed Secret). Until it has one,
   * the listener serves a placeholder for probes and /readyz fails.
   */
  readonly certificates?: CertificateSource;
}

/** What the webhook needs of src/kube's startKube. */
export interface PolicyCrds {
  readonly policies: PolicySource<TrustPolicy>;
  readonly pullSecrets: PullSecretSource;
  /** Break-glass exceptions (ImageTrustException objects). */
  readonly exceptions?: ExceptionSource;
  /** Every informer synced and every policy compiled once. */
  ready(): boolean;
}

export interface RunningServer {
  /** https://host:port as bound (the port resolved when 0 was asked for). */
  readonly url: string;
  readonly port: number;
  /**
   * Drains: keeps serving for shutdownDelayMs with every answer closing its connection, then up to
   * drainTimeoutMs more until the clients have closed their connections, then stops accepting and
   * finishes the reviews in flight.
   */
  close(): Promise<void>;
  /** The webhook's checks and pull secrets, for judging running pods as admissions are judged. */
  readonly workloads: WorkloadPolicies;
  /** Where background verification reports, beside the webhook's metrics. */
  readonly backgroundObserver: BackgroundObserver;
  /** Called after every reload of the policy file (or a key or CA file it names). */
  onPolicyReload(listener: () => void): void;
}

/** Connects the shared cache (never failing on an unreachable server: the breaker covers that). */
async function openSharedCache(
  config: SharedCacheConfig | undefined,
  logger: Logger,
  metrics: Metrics,
): Promise<SharedCache> {
  if (config === undefined) return NO_SHARED_CACHE;
  // Loaded only when configured: a webhook without a shared cache never loads the client.
  const { connectRedisStore, DEFAULT_REDIS_BOUNDS } = await import('./cache/redis.ts');
  const store = await connectRedisStore({
    url: config.url,
    ...(config.password === undefined ? {} : { password: config.password }),
    ...(config.ca === undefined ? {} : { ca: config.ca }),
    ...DEFAULT_REDIS_BOUNDS,
    ...(config.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: config.commandTimeoutMs }),
    onStateChange(state, reason) {
      metrics.sharedCacheEvent(state);
      if (state === 'unavailable')
        logger.warn({ err: reason }, 'shared cache unavailable, using the local cache');
      else logger.info('shared cache available again');
    },
  });
  return sharedCache(store, config.secret, () => {
    metrics.sharedCacheEvent('tampered');
    logger.warn('shared cache: a record failed its signature check and was ignored');
  });
}

export async function startServer(config: ServerConfig, components: Components): Promise<RunningServer> {
  const logger = createLogger(config.logLevel, components.logDestination);
  const metrics = createMetrics();
  const shared = await openSharedCache(config.sharedCache, logger, metrics);
  // With policy CRDs watched, a policy file applies only when one is named.
  const withFile = config.policyPath !== undefined || components.crds === undefined;
  const first = withFile ? await components.loadPolicy(config.policyPath) : undefined;
  let evaluator: TrustPolicy | undefined = first;
  let draining = false;
  // One set of caches for every policy: verdict keys carry the policy's hashes (for CRD
  // policies, every member's generation hash), so a change retires exactly its own entries.
  const caches = {
    resolver: components.resolver,
    verdicts: createTtlCache<Verdict>(config.cache.maxEntries),
    digests: createTtlCache<{ digest: Digest }>(config.cache.maxEntries),
    // A flight may outlive the review that started it (its result then serves the retry), but
    // never the webhook's own deadline by much.
    resolutions: new Coalescer<Digest>(config.deadlineMs * 2),
    evaluations: new Coalescer<Verdict>(config.deadlineMs * 2),
    platforms: config.platforms,
    ...config.cache,
    stale: {
      windowMs: config.cache.staleIfErrorMs,
      verdicts: createTtlCache<LastKnownGood>(config.cache.maxEntries),
      resolutions: createTtlCache<LastResolution>(config.cache.maxEntries),
    },
    shared,
    observer: metrics,
  };
  let crds: PolicyCrds | undefined;
  let crdsFailure: string | undefined;
  components.crds?.then(
    (synced) => {
      crds = synced;
      logger.info('policy CRDs synced');
    },
    (err: unknown) => {
      crdsFailure = (err as Error).message;
      logger.error({ err: crdsFailure }, 'policy CRDs not watched');
    },
  );
  const crdsUnavailable = () => `policy CRDs: ${crdsFailure ?? 'not synced with the API server yet'}`;
  const pullSecrets: PullSecretSource =
    components.crds === undefined
      ? components.pullSecrets
      : {
          async secretsFor(context, signal) {
            if (crds === undefined) throw new Error(crdsUnavailable());
            return crds.pullSecrets.secretsFor(context, signal);
          },
          knownSecretsFor: (context) => crds?.pullSecrets.knownSecretsFor?.(context),
        };
  const workloads = createWorkloadPolicies({
    mode: config.mode,
    file: withFile ? () => evaluator : undefined,
    crds:
      components.crds === undefined
        ? undefined
        : () =>
            crds === undefined
              ? { state: 'unavailable', reason: crdsUnavailable() }
              : { state: 'synced', policies: crds.policies },
    caches,
    pullSecrets,
  });
  const checks = workloads.checks;
  const exceptions: ExceptionSource = {
    has: (namespace) => crds?.exceptions?.has(namespace) ?? false,
    covering: (namespace, ref) => crds?.exceptions?.covering(namespace, ref),
    used: (exception, image) => crds?.exceptions?.used(exception, image),
  };
  let certificates = components.certificates;
  if (certificates === undefined) {
    if (config.tlsCertPath === undefined || config.tlsKeyPath === undefined) {
      throw new WebhookError(
        'TLS_INVALID',
        'no serving certificate: give a certificate and key file, or a certificate source',
      );
    }
    certificates = await fileCertificateSource(
      config.tlsCertPath,
      config.tlsKeyPath,
      config.watchIntervalMs,
      logger,
    );
  }
  const tlsSource = certificates;
  const tls = tlsSource.current() ?? selfSignedPair(['localhost']);
  // When a review last arrived (probes do not count: the kubelet sends them to the end).
  const activity = { lastReviewAt: Number.NEGATIVE_INFINITY };
  const app = buildApp({
    admission: {
      checks,
      pullSecrets,
      mode: config.mode,
      deadlineMs: config.deadlineMs,
      unknownKinds: config.unknownKinds,
      ...(components.crds === undefined ? {} : { exceptions }),
      metrics,
      logger,
    },
    // Readiness stays true while draining: a terminating endpoint that is still ready is where
    // kube-proxy sends traffic when no other endpoint is ready (every replica deleted at once).
    ready: () =>
      tlsSource.current() !== undefined &&
      (!withFile || evaluator !== undefined) &&
      (components.crds === undefined || crds?.ready() === true),
    bodyLimit: config.bodyLimit,
    tls,
    draining: () => draining,
    activity,
  });
  await app.listen({ host: config.host, port: config.port });
  const closeUnused = trackUnusedConnections(app.server as HttpsServer);

  // New connections get the new certificate; established ones keep theirs until they close.
  let served = tls;
  const swapCertificate = () => {
    const pair = tlsSource.current();
    if (pair === undefined || pair === served) return;
    served = pair;
    (app.server as HttpsServer).setSecureContext({ cert: pair.cert, key: pair.key });
  };
  tlsSource.onChange(swapCertificate);
  swapCertificate();
  const policyPath = config.policyPath;
  // The policy and every key or CA file it names are watched; any change reloads the whole
  // policy, and its new hashes retire the cached verdicts of the old one.
  let stopPolicyWatch = () => {};
  // Loads can overlap (a file written in two steps changes twice); only the newest may apply,
  // or a slow load of an older version could replace a newer policy.
  let reloads = 0;
  const reloadListeners: (() => void)[] = [];
  const watchPolicy = (sources: readonly string[]) => {
    stopPolicyWatch();
    stopPolicyWatch = watchFiles(sources, config.watchIntervalMs, () => {
      const reload = ++reloads;
      components.loadPolicy(policyPath).then(
        (next) => {
          if (reload !== reloads) return;
          evaluator = next;
          watchPolicy(next.sources);
          for (const listener of reloadListeners) listener();
          logger.info(
            { policy: policyPath, policyHash: next.policyHash, trustHash: next.trustHash },
            'policy reloaded',
          );
        },
        (err: unknown) => {
          if (reload === reloads) {
            logger.error({ err: (err as Error).message }, 'policy not reloaded, keeping the previous one');
          }
        },
      );
    });
  };
  if (first !== undefined) watchPolicy(first.sources);

  // At debug level, every registry request (no headers, no query strings: see trace.ts).
  const stopRequestLog = logger.isLevelEnabled('debug')
    ? onRequest((request) => logger.debug({ request }, 'registry request'))
    : () => {};
  const port = (app.server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  logger.info(
    {
      port,
      mode: config.mode,
      policy: withFile ? (policyPath ?? 'embedded default') : 'none',
      crds: components.crds !== undefined,
    },
    'portcullis webhook listening',
  );
  return {
    url: `https://${host}:${port}`,
    port,
    workloads,
    backgroundObserver: metrics.background,
    onPolicyReload: (listener) => {
      reloadListeners.push(listener);
    },
    async close() {
      // Each pooled keep-alive connection closes after its next answer, so the client reconnects
      // through the Service to a replica that stays. Idle ones are not closed now: a client may be
      // sending on one at that moment, and a POST cut so is not retried.
      draining = true;
      const server = app.server as HttpsServer;
      tlsSource.stop();
      stopPolicyWatch();
      await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
      // Every connection still open closes after its next answer, or when its client lets it go.
      await connectionsClosed(server, config.drainTimeoutMs ?? 0, () => activity.lastReviewAt);
      closeUnused();
      // Reviews in flight are answered within the deadline; a connection still open past that is
      // cut rather than hold the exit until the kubelet's SIGKILL.
      const cut = setTimeout(() => server.closeAllConnections(), config.deadlineMs + 1000);
      await app.close();
      clearTimeout(cut);
      stopRequestLog();
      await shared.close();
      evaluator = undefined;
      logger.info('portcullis webhook stopped');
    },
  };
}

/**
 * While reviews keep arriving after the shutdown delay, the replica is still where traffic goes
 * (every endpoint of the Service is terminating, as when all replicas are deleted at once, and
 * kube-proxy falls back to the terminating ones): the drain goes on until none came for this long.
 */
const DRAIN_QUIET_MS = 2000;

/**
 * Resolves once the server has no open connection and no review arrived for DRAIN_QUIET_MS, or
 * after `timeoutMs`.
 */
async function connectionsClosed(
  server: HttpsServer,
  timeoutMs: number,
  lastReview: () => number,
): Promise<void> {
  if (timeoutMs <= 0) return;
  const deadline = performance.now() + timeoutMs;
  const open = () =>
    new Promise<number>((settle) => server.getConnections((err, count) => settle(err ? 0 : count)));
  while (
    performance.now() < deadline &&
    ((await open()) > 0 || performance.now() - lastReview() < DRAIN_QUIET_MS)
  ) {
    await new Promise((r) => setTimeout(r, Math.min(250, Math.max(1, deadline - performance.now()))));
  }
}

/**
 * Connections that never carried a request (a client dials ahead and pools the spare one). Node
 * counts them as busy, so close() would wait for them; the returned function closes them.
 */
function trackUnusedConnections(server: HttpsServer): () => void {
  const unused = new Set<Socket>();
  server.on('secureConnection', (socket: Socket) => {
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  server.on('request', (request: { socket: Socket }) => unused.delete(request.socket));
  return () => {
    for (const socket of unused) socket.destroy();
    unused.clear();
  };
}

/**
 * How pod images without a registry are named: `docker` as Kubernetes documents and containerd
 * and Docker pull them (docker.io/library); `registries-conf` as CRI-O and Podman pull them, by
 * the aliases and unqualified-search registries of registries.conf.
 */
export type ShortNameRules = 'docker' | 'registries-conf';

/** Where the production components read registry configuration (`serve` flags). */
export interface RegistrySettings {
  readonly registriesDirPath: string | undefined;
  readonly registriesConfPath: string | undefined;
  readonly authFilePath: string | undefined;
  /** Default `docker`: a registries.conf given for mirrors alone must not change what short names mean. */
  readonly shortNames?: ShortNameRules;
  /** Request budgets by registry (docker.io, host:port); registries without one are not metered. */
  readonly budgets?: ReadonlyMap<string, RegistryBudget>;
}

/** HEAD of the tag at each pull source of registries.conf (mirrors first), like a pull would. */
function dockerDigestLookup(transport: DockerTransport): DigestLookup {
  return async (ref, ctx) => {
    const conf = await registriesConfFor(ctx, transport.environment);
    let last: unknown;
    for (const source of pullSources(conf, ref)) {
      const client = await clientFor(
        ctx,
        source.reference,
        conf,
        source.insecure,
        transport.environment,
        transport.session,
      );
      try {
        return await client.resolveDigest(source.reference.path, ref.tag ?? 'latest');
      } catch (err) {
        last = err;
      }
    }
    throw last;
  };
}

const keyLoaders = {
  gpg: loadKeyring,
  sigstore: (pem: string, field: string) => parsePublicKeyPem(pem, field),
};

/**
 * The real thing: policy.json through the signature layer, the docker transport, the auth file;
 * `compilePolicy` is what the policy CRD controller compiles each policy's text with.
 */
export function productionComponents(
  settings: RegistrySettings,
  transport: DockerTransport = new DockerTransport(
    processEnvironment(),
    new RegistrySession(settings.budgets === undefined ? {} : { budgets: settings.budgets }),
  ),
): Components & { compilePolicy(text: string): Promise<TrustPolicy> } {
  const context: SystemContext = {
    ...(settings.registriesDirPath === undefined ? {} : { registriesDirPath: settings.registriesDirPath }),
    ...(settings.registriesConfPath === undefined ? {} : { registriesConfPath: settings.registriesConfPath }),
    ...(settings.authFilePath === undefined ? {} : { authFilePath: settings.authFilePath }),
  };
  const options = { transport, sigstore: sigstoreVerifier(), context };
  return {
    loadPolicy: (path) => loadPolicy(path, options),
    compilePolicy: (text) => loadPolicyText(text, options, (policy) => loadInlineKeys(policy, keyLoaders)),
    resolver: new RegistryResolver(
      dockerDigestLookup(transport),
      context,
      settings.shortNames === 'registries-conf'
        ? (image, ctx) => imageCandidates(image, ctx, transport.environment)
        : undefined,
    ),
    pullSecrets: NO_PULL_SECRETS,
  };
}
