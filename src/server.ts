// Composition root of the webhook: wires policy, caches, metrics, logs and TLS into a listener.
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Coalescer, createTtlCache } from './cache/index.ts';
import type { Digest, SystemContext } from './image/index.ts';
import { pullSources } from './image/registries/registries-conf.ts';
import { sigstoreVerifier } from './image/signature/index.ts';
import { clientFor, DockerTransport, registriesConfFor } from './image/transports/docker/index.ts';
import type { PolicySource } from './kube/index.ts';
import {
  compilePolicy,
  type DigestLookup,
  type EngineOptions,
  type Evaluator,
  ImageChecker,
  loadPolicy,
  NO_PULL_SECRETS,
  type PullSecretSource,
  RegistryResolver,
  type Resolver,
  type Verdict,
} from './policy/index.ts';
import type { Mode, NamespacePolicies } from './webhook/admit.ts';
import { buildApp } from './webhook/app.ts';
import { createLogger, type LogDestination, type LogLevel } from './webhook/log.ts';
import { createMetrics } from './webhook/metrics.ts';
import { readKeyPair, watchFiles } from './webhook/tls.ts';

export interface ServerConfig {
  /** policy.json; undefined = the embedded default. */
  readonly policyPath: string | undefined;
  readonly host: string;
  readonly port: number;
  readonly tlsCertPath: string;
  readonly tlsKeyPath: string;
  readonly deadlineMs: number;
  readonly mode: Mode;
  readonly unknownKinds: 'allow' | 'deny';
  readonly bodyLimit: number;
  readonly logLevel: LogLevel;
  /** The platform verdicts are computed for, `os/arch[/variant]`. */
  readonly platform: string;
  /** How often certificate, key and policy files are checked for changes. */
  readonly watchIntervalMs: number;
  /** After SIGTERM: how long /readyz fails before the listener stops, so endpoints drain first. */
  readonly shutdownDelayMs: number;
  readonly cache: {
    readonly maxEntries: number;
    readonly allowedTtlMs: number;
    readonly deniedTtlMs: number;
    readonly digestTtlMs: number;
  };
}

/** The parts a caller provides: the real ones in the CLI, fakes for faults in tests. */
export interface Components {
  /** Loads and compiles the policy (and the trust material it names); throws when invalid. */
  loadPolicy(path: string | undefined): Promise<Evaluator>;
  readonly resolver: Resolver;
  readonly pullSecrets: PullSecretSource;
  /**
   * Policy objects by namespace (`serve --watch-policies`). Each must admit an image, and so must
   * the policy file when one is configured; without one, only they apply.
   */
  readonly policies?: PolicySource<Evaluator>;
  /** Where logs go; default stdout. */
  readonly logDestination?: LogDestination;
}

export interface RunningServer {
  /** https://host:port as bound (the port resolved when 0 was asked for). */
  readonly url: string;
  readonly port: number;
  /** Fails readiness, waits shutdownDelayMs, then stops accepting and finishes in-flight reviews. */
  close(): Promise<void>;
}

export const DEFAULT_CACHE = {
  maxEntries: 10_000,
  allowedTtlMs: 10 * 60_000,
  deniedTtlMs: 10_000,
  digestTtlMs: 30_000,
};

export async function startServer(config: ServerConfig, components: Components): Promise<RunningServer> {
  const logger = createLogger(config.logLevel, components.logDestination);
  const metrics = createMetrics();
  const withFilePolicy = config.policyPath !== undefined || components.policies === undefined;
  const first = withFilePolicy ? await components.loadPolicy(config.policyPath) : undefined;
  let evaluator: Evaluator | undefined = first;
  let closing = false;
  const checker = new ImageChecker({
    resolver: components.resolver,
    evaluator: () => evaluator,
    verdicts: createTtlCache<Verdict>(config.cache.maxEntries),
    digests: createTtlCache<{ digest: Digest }>(config.cache.maxEntries),
    // A flight may outlive the review that started it (its result then serves the retry), but
    // never the webhook's own deadline by much.
    resolutions: new Coalescer<Digest>(config.deadlineMs * 2),
    evaluations: new Coalescer<Verdict>(config.deadlineMs * 2),
    platform: config.platform,
    ...config.cache,
    observer: metrics,
  });
  const tls = await readKeyPair(config.tlsCertPath, config.tlsKeyPath);
  const app = buildApp({
    admission: {
      checker,
      pullSecrets: components.pullSecrets,
      ...(components.policies === undefined
        ? {}
        : { policies: namespacePolicies(components.policies, withFilePolicy) }),
      mode: config.mode,
      deadlineMs: config.deadlineMs,
      unknownKinds: config.unknownKinds,
      metrics,
      logger,
    },
    ready: () =>
      !closing && (!withFilePolicy || evaluator !== undefined) && (components.policies?.ready() ?? true),
    bodyLimit: config.bodyLimit,
    tls,
  });
  await app.listen({ host: config.host, port: config.port });

  const stopTlsWatch = watchFiles([config.tlsCertPath, config.tlsKeyPath], config.watchIntervalMs, () => {
    readKeyPair(config.tlsCertPath, config.tlsKeyPath).then(
      (pair) => {
        (app.server as HttpsServer).setSecureContext({ cert: pair.cert, key: pair.key });
        logger.info({ cert: config.tlsCertPath }, 'tls certificate reloaded');
      },
      // A half-written pair is normal during a rotation: keep serving the old one.
      (err: unknown) => logger.warn({ err: (err as Error).message }, 'tls certificate not reloaded'),
    );
  });
  const policyPath = config.policyPath;
  // The policy and every key or CA file it names are watched; any change reloads the whole
  // policy, and its new hashes retire the cached verdicts of the old one.
  let stopPolicyWatch = () => {};
  // Loads can overlap (a file written in two steps changes twice); only the newest may apply,
  // or a slow load of an older version could replace a newer policy.
  let reloads = 0;
  const watchPolicy = (sources: readonly string[]) => {
    stopPolicyWatch();
    stopPolicyWatch = watchFiles(sources, config.watchIntervalMs, () => {
      const reload = ++reloads;
      components.loadPolicy(policyPath).then(
        (next) => {
          if (reload !== reloads) return;
          evaluator = next;
          watchPolicy(next.sources);
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

  const port = (app.server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  logger.info(
    { port, mode: config.mode, policy: policyPath ?? 'embedded default' },
    'portcullis webhook listening',
  );
  return {
    url: `https://${host}:${port}`,
    port,
    async close() {
      closing = true;
      stopTlsWatch();
      stopPolicyWatch();
      await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
      await app.close();
      evaluator = undefined;
      logger.info('portcullis webhook stopped');
    },
  };
}

/** The policy objects as the admission consumes them; unknown until synced, so reviews fail closed. */
function namespacePolicies(source: PolicySource<Evaluator>, withFilePolicy: boolean): NamespacePolicies {
  return {
    withFilePolicy,
    policiesFor(namespace) {
      if (!source.ready()) throw new Error('the policy objects are not synced yet');
      return source
        .policiesFor(namespace)
        .map((p) =>
          p.state === 'ready'
            ? { key: p.key, mode: p.mode, evaluator: p.compiled }
            : { key: p.key, mode: p.mode, failure: p.reason },
        );
    },
  };
}

/** Where the production components read registry configuration (`serve` flags). */
export interface RegistrySettings {
  readonly registriesDirPath: string | undefined;
  readonly registriesConfPath: string | undefined;
  readonly authFilePath: string | undefined;
}

/** HEAD of the tag at each pull source of registries.conf (mirrors first), like a pull would. */
function dockerDigestLookup(transport: DockerTransport): DigestLookup {
  return async (ref, ctx) => {
    const conf = await registriesConfFor(ctx, transport.environment);
    let last: unknown;
    for (const source of pullSources(conf, ref)) {
      const client = await clientFor(ctx, source.reference, conf, source.insecure, transport.environment);
      try {
        return await client.resolveDigest(source.reference.path, ref.tag ?? 'latest');
      } catch (err) {
        last = err;
      }
    }
    throw last;
  };
}

/** The real thing: policy.json through the signature layer, the docker transport, the auth file. */
export function productionComponents(
  settings: RegistrySettings,
  transport: DockerTransport = new DockerTransport(),
): Components & { compilePolicy(text: string): Promise<Evaluator> } {
  const context: SystemContext = {
    ...(settings.registriesDirPath === undefined ? {} : { registriesDirPath: settings.registriesDirPath }),
    ...(settings.registriesConfPath === undefined ? {} : { registriesConfPath: settings.registriesConfPath }),
    ...(settings.authFilePath === undefined ? {} : { authFilePath: settings.authFilePath }),
  };
  const engine: EngineOptions = { transport, sigstore: sigstoreVerifier(), context };
  return {
    loadPolicy: (path) => loadPolicy(path, engine),
    // Policy objects carry their keys inline: nothing to read or watch besides the text.
    compilePolicy: (text) => compilePolicy(text, undefined, engine),
    resolver: new RegistryResolver(dockerDigestLookup(transport), context),
    pullSecrets: NO_PULL_SECRETS,
  };
}
