// Composition root of the webhook: wires policy, caches, metrics, logs and TLS into a listener.
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Coalescer, createTtlCache } from './cache/index.ts';
import type { Digest, SystemContext } from './image/index.ts';
import { pullSources } from './image/registries/registries-conf.ts';
import { sigstoreVerifier } from './image/signature/index.ts';
import { clientFor, DockerTransport, registriesConfFor } from './image/transports/docker/index.ts';
import {
  type DigestLookup,
  type Evaluator,
  ImageChecker,
  loadPolicy,
  NO_PULL_SECRETS,
  type PullSecretSource,
  RegistryResolver,
  type Resolver,
  type Verdict,
} from './policy/index.ts';
import type { Mode } from './webhook/admit.ts';
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
  const first = await components.loadPolicy(config.policyPath);
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
      mode: config.mode,
      deadlineMs: config.deadlineMs,
      unknownKinds: config.unknownKinds,
      metrics,
      logger,
    },
    ready: () => evaluator !== undefined && !closing,
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
  watchPolicy(first.sources);

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
): Components {
  const context: SystemContext = {
    ...(settings.registriesDirPath === undefined ? {} : { registriesDirPath: settings.registriesDirPath }),
    ...(settings.registriesConfPath === undefined ? {} : { registriesConfPath: settings.registriesConfPath }),
    ...(settings.authFilePath === undefined ? {} : { authFilePath: settings.authFilePath }),
  };
  const sigstore = sigstoreVerifier();
  return {
    loadPolicy: (path) => loadPolicy(path, { transport, sigstore, context }),
    resolver: new RegistryResolver(dockerDigestLookup(transport), context),
    pullSecrets: NO_PULL_SECRETS,
  };
}
