// `portcullis serve`: the admission webhook, from flags or PORTCULLIS_* environment variables.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CACHE_LIMITS, DEFAULT_COMMAND_TIMEOUT_MS } from '../cache/index.ts';
import type { InstanceSelection } from '../image/signature/unparsed.ts';
import { DOCKER_HUB_ANONYMOUS_BUDGET, type RegistryBudget } from '../image/transports/docker/index.ts';
import type { KubeIntegration } from '../kube/index.ts';
import { REPORT_APIS, type ReportApi } from '../kube/reports.ts';
import type { TrustPolicy } from '../policy/index.ts';
import { DEFAULT_PLATFORMS, parsePlatforms } from '../policy/platforms.ts';
import type { RunningServer, ServerConfig, ShortNameRules } from '../server.ts';
import { MODES, type Mode } from '../webhook/admit.ts';
import type { RotationSettings } from '../webhook/cert-rotation.ts';
import type { Logger, LogLevel } from '../webhook/log.ts';
import { DEFAULT_BODY_LIMIT } from '../webhook/review.ts';
import { writeSelfSignedCertificate } from '../webhook/tls.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io } from './command.ts';
import { parseDuration } from './transfer-flags.ts';

const DEFAULT_CACHE_TIMEOUT = `${DEFAULT_COMMAND_TIMEOUT_MS}ms`;
/** A fifth of Docker Hub's anonymous 100 pulls per 6 hours: about 70 minutes of its refill. */
const DEFAULT_BACKGROUND_RESERVE_PERCENT = 20;

const flags = {
  policy: {
    type: 'string',
    metavar: 'FILE',
    help: 'trust policy (policy.json); default: the embedded default [PORTCULLIS_POLICY]',
  },
  'registries.d': {
    type: 'string',
    metavar: 'DIR',
    help: 'registries.d directory (signature storage) [PORTCULLIS_REGISTRIES_D]',
  },
  'registries-conf': {
    type: 'string',
    metavar: 'FILE',
    help: 'registries.conf (mirrors, blocked registries; short-name aliases with --short-names=registries-conf) [PORTCULLIS_REGISTRIES_CONF]',
  },
  'short-names': {
    type: 'string',
    metavar: 'MODE',
    help: 'pod images without a registry: "docker" (docker.io/library, as containerd and Docker pull them; default) or "registries-conf" (aliases and unqualified-search registries of --registries-conf, as CRI-O pulls them) [PORTCULLIS_SHORT_NAMES]',
  },
  authfile: {
    type: 'string',
    metavar: 'FILE',
    help: 'auth.json with registry credentials for every pod [PORTCULLIS_AUTHFILE]',
  },
  listen: {
    type: 'string',
    metavar: 'HOST:PORT',
    help: 'address to serve HTTPS on (default 0.0.0.0:8443) [PORTCULLIS_LISTEN]',
  },
  'tls-cert': {
    type: 'string',
    metavar: 'FILE',
    help: 'serving certificate, reloaded when it changes; self-signed when absent [PORTCULLIS_TLS_CERT]',
  },
  'tls-key': { type: 'string', metavar: 'FILE', help: 'key of --tls-cert [PORTCULLIS_TLS_KEY]' },
  'tls-secret': {
    type: 'string',
    metavar: 'NAME',
    help: 'self-managed certificates: the Secret in POD_NAMESPACE holding a CA and the serving certificate; the Lease holder fills and rotates it, every replica serves from it (needs --tls-hosts) [PORTCULLIS_TLS_SECRET]',
  },
  'tls-hosts': {
    type: 'string',
    metavar: 'LIST',
    help: 'with --tls-secret: the DNS names and IP addresses the serving certificate is for, comma-separated (the Service names) [PORTCULLIS_TLS_HOSTS]',
  },
  'webhook-configuration': {
    type: 'string',
    metavar: 'NAMES',
    help: 'with --tls-secret: the ValidatingWebhookConfiguration and MutatingWebhookConfiguration (comma-separated names) whose caBundle the Lease holder keeps [PORTCULLIS_WEBHOOK_CONFIGURATION]',
  },
  'tls-ca-validity': {
    type: 'string',
    metavar: 'DURATION',
    help: 'with --tls-secret: lifetime of each CA (default 8760h) [PORTCULLIS_TLS_CA_VALIDITY]',
  },
  'tls-ca-renew-before': {
    type: 'string',
    metavar: 'DURATION',
    help: 'with --tls-secret: a new CA joins the caBundle this long before the current one expires (default: a third of its validity) [PORTCULLIS_TLS_CA_RENEW_BEFORE]',
  },
  'tls-cert-validity': {
    type: 'string',
    metavar: 'DURATION',
    help: 'with --tls-secret: lifetime of each serving certificate (default 2160h) [PORTCULLIS_TLS_CERT_VALIDITY]',
  },
  'tls-cert-renew-before': {
    type: 'string',
    metavar: 'DURATION',
    help: 'with --tls-secret: the serving certificate is replaced this long before it expires (default: a third of its validity) [PORTCULLIS_TLS_CERT_RENEW_BEFORE]',
  },
  'tls-bundle-delay': {
    type: 'string',
    metavar: 'DURATION',
    help: 'with --tls-secret: how long a new CA is in the caBundle before a certificate it signed is served (default 1m) [PORTCULLIS_TLS_BUNDLE_DELAY]',
  },
  timeout: {
    type: 'string',
    metavar: 'SECONDS',
    help: 'answer every review within this time; keep it below the webhook timeoutSeconds (default 8) [PORTCULLIS_TIMEOUT]',
  },
  'shutdown-delay': {
    type: 'string',
    metavar: 'DURATION',
    help: 'after SIGTERM, keep answering this long (each answer closing its connection) before the listener stops, so the endpoint is gone from every kube-proxy first; then in-flight reviews finish (default 2s; the Helm chart sets 10s) [PORTCULLIS_SHUTDOWN_DELAY]',
  },
  'drain-timeout': {
    type: 'string',
    metavar: 'DURATION',
    help: 'after the shutdown delay, wait up to this long for clients to close their kept-alive connections (the API server closes an idle one after 90s) rather than close one a request may be on its way over; 0 closes them at once (default 0s; the Helm chart sets 95s) [PORTCULLIS_DRAIN_TIMEOUT]',
  },
  mode: {
    type: 'string',
    metavar: 'MODE',
    help: 'enforce (deny), warn (admit with warnings) or audit (admit, record) (default enforce) [PORTCULLIS_MODE]',
  },
  'unknown-kinds': {
    type: 'string',
    metavar: 'allow|deny',
    help: 'kinds without a known pod spec: allow with a warning, or deny (default allow) [PORTCULLIS_UNKNOWN_KINDS]',
  },
  'log-level': {
    type: 'string',
    metavar: 'LEVEL',
    help: 'error, warn, info or debug (default info) [PORTCULLIS_LOG_LEVEL]',
  },
  platforms: {
    type: 'string',
    metavar: 'LIST',
    help: 'multi-arch images: verify the instances for these os/arch[/variant] platforms (comma-separated; each one the index offers must pass), or "all" instances (default linux/amd64) [PORTCULLIS_PLATFORMS]',
  },
  'stale-if-error': {
    type: 'string',
    metavar: 'DURATION',
    help: 'when a registry fails transiently (refused, timeout, 5xx, 429), admit a digest verified within this time under the same policy, trust material and credentials, with a warning; a tag only while its last resolution is that recent; 0 turns it off (default 1h) [PORTCULLIS_STALE_IF_ERROR]',
  },
  'cache-url': {
    type: 'string',
    metavar: 'URL',
    help: 'a Redis shared by the replicas for verdicts, tag resolutions and stale-if-error records (redis://[user:password@]host:port[/db], rediss:// for TLS); the password may come from PORTCULLIS_CACHE_PASSWORD instead; needs --cache-secret-file [PORTCULLIS_CACHE_URL]',
  },
  'cache-secret-file': {
    type: 'string',
    metavar: 'FILE',
    help: 'a secret of at least 32 bytes every replica signs and checks shared records with, so that write access to Redis alone cannot admit an image [PORTCULLIS_CACHE_SECRET_FILE]',
  },
  'cache-timeout': {
    type: 'string',
    metavar: 'DURATION',
    help: `longest wait for one command of the shared cache; after 3 timeouts in a row the replica stops asking it for 5 s (default ${DEFAULT_CACHE_TIMEOUT}) [PORTCULLIS_CACHE_TIMEOUT]`,
  },
  'registry-budget': {
    type: 'list',
    metavar: 'REGISTRY=PULLS/DURATION',
    help: "at most PULLS manifest reads from REGISTRY (as images name it: docker.io, ghcr.io, host:port) per DURATION, waited for within the deadline, else failing at once (stale-if-error then answers); REGISTRY=unlimited lifts it; repeatable, or comma-separated (default docker.io=100/6h, Docker Hub's anonymous pull limit) [PORTCULLIS_REGISTRY_BUDGET]",
  },
  'background-budget-reserve': {
    type: 'string',
    metavar: 'PERCENT',
    help: `share of each --registry-budget that verifications of running pods leave to admissions: they skip an image rather than take it, until the next fresh scan (default ${DEFAULT_BACKGROUND_RESERVE_PERCENT}, rounded up to whole pulls; 0 keeps none) [PORTCULLIS_BACKGROUND_BUDGET_RESERVE]`,
  },
  'cache-ca-file': {
    type: 'string',
    metavar: 'FILE',
    help: 'PEM CA certificates trusted for a rediss:// cache [PORTCULLIS_CACHE_CA_FILE]',
  },
  'watch-policies': {
    type: 'boolean',
    help: 'apply the ClusterImagePolicy and ImagePolicy objects too (needs POD_NAMESPACE; POD_NAME names this replica); no --policy then means no policy file',
  },
  kubeconfig: {
    type: 'string',
    metavar: 'FILE',
    help: 'kubeconfig for --watch-policies and --tls-secret (default: $KUBECONFIG, ~/.kube/config, then in-cluster)',
  },
  'verify-running': {
    type: 'boolean',
    help: 'also verify the images of running pods as admissions are verified, and report them (needs --watch-policies; the Lease holder writes) [PORTCULLIS_VERIFY_RUNNING]',
  },
  'verify-interval': {
    type: 'string',
    metavar: 'DURATION',
    help: 'with --verify-running: verify every running image afresh this often, e.g. 30m or 1h (default 1h) [PORTCULLIS_VERIFY_INTERVAL]',
  },
  'verify-concurrency': {
    type: 'string',
    metavar: 'N',
    help: 'with --verify-running: verifications of running images in flight at once, beside admissions (default 2) [PORTCULLIS_VERIFY_CONCURRENCY]',
  },
  reports: {
    type: 'string',
    metavar: 'LIST',
    help: 'with --verify-running: the report APIs written, comma-separated: wgpolicyk8s (PolicyReport), openreports (Report), or none (default wgpolicyk8s) [PORTCULLIS_REPORTS]',
  },
} as const;

/** --tls-secret: the self-managed certificates. */
export interface SelfManagedTls {
  readonly secretName: string;
  readonly webhookConfigurations: readonly string[];
  readonly rotation: RotationSettings;
}

/** Settings only the CLI knows: where the production components read their configuration. */
export interface ServeSettings {
  readonly config: Omit<ServerConfig, 'tlsCertPath' | 'tlsKeyPath'>;
  readonly tls: { readonly certPath: string; readonly keyPath: string } | undefined;
  readonly selfManaged: SelfManagedTls | undefined;
  readonly watchPolicies: boolean;
  readonly registriesDirPath: string | undefined;
  readonly registriesConfPath: string | undefined;
  readonly shortNames: ShortNameRules;
  readonly authFilePath: string | undefined;
  /** Request budgets by registry (--registry-budget over the default). */
  readonly budgets: ReadonlyMap<string, RegistryBudget>;
  /** --cache-url: read when serving (the files are read then). */
  readonly sharedCache:
    | {
        readonly url: string;
        readonly password: string | undefined;
        readonly secretFile: string;
        readonly caFile: string | undefined;
        readonly commandTimeoutMs: number;
      }
    | undefined;
  /** --watch-policies or --tls-secret: where the replica runs (the Pod's namespace and name) and its API server. */
  readonly kube:
    | { readonly namespace: string; readonly identity: string; readonly kubeconfig: string | undefined }
    | undefined;
  /** --verify-running: background verification of running pods. */
  readonly background?: BackgroundFlags;
}

export interface BackgroundFlags {
  readonly intervalMs: number;
  readonly concurrency: number;
  readonly reports: readonly ReportApi[];
}

/** A --verify-interval: a duration (`30m`, `1h30m`) between a second and a week. */
function verifyInterval(text: string): number {
  const ms = parseDuration('verify-interval', text);
  if (ms < 1000 || ms > 7 * 24 * 3_600_000) {
    throw new CliError(
      'USAGE',
      `invalid --verify-interval ${JSON.stringify(text)}: expected a duration between 1s and 168h, e.g. 30m`,
    );
  }
  return ms;
}

function backgroundFlags(
  pick: (name: 'verify-interval' | 'verify-concurrency' | 'reports', variable: string) => string | undefined,
): BackgroundFlags {
  const concurrency = wholeNumber(
    'verify-concurrency',
    pick('verify-concurrency', 'VERIFY_CONCURRENCY') ?? '2',
    { min: 1, max: 64 },
    'a number between 1 and 64',
  );
  const reportsText = pick('reports', 'REPORTS') ?? 'wgpolicyk8s';
  const names = reportsText.split(',').map((r) => r.trim());
  const reports =
    reportsText === 'none' ? [] : [...new Set(names.map((r) => oneOf<ReportApi>('reports', r, REPORT_APIS)))];
  return {
    intervalMs: verifyInterval(pick('verify-interval', 'VERIFY_INTERVAL') ?? '1h'),
    concurrency,
    reports,
  };
}

const SHORT_NAME_MODES: readonly ShortNameRules[] = ['docker', 'registries-conf'];
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new CliError(
      'USAGE',
      `invalid --${name} ${JSON.stringify(value)}: expected one of ${allowed.join(', ')}`,
    );
  }
  return value as T;
}

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw new CliError('USAGE', `invalid --listen ${JSON.stringify(value)}: expected HOST:PORT`);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function platformsFlag(text: string): InstanceSelection {
  try {
    return parsePlatforms(text);
  } catch (err) {
    throw new CliError('USAGE', `invalid --platforms: ${(err as Error).message}`);
  }
}

/** The whole number `--name` gives, within the bounds; `expected` says what it may be when it is not. */
function wholeNumber(
  name: string,
  text: string,
  bounds: { readonly min: number; readonly max: number },
  expected: string,
): number {
  const value = Number(text);
  if (!/^\d{1,9}$/.test(text) || value < bounds.min || value > bounds.max) {
    throw new CliError('USAGE', `invalid --${name} ${JSON.stringify(text)}: expected ${expected}`);
  }
  return value;
}

/** A --background-budget-reserve: a whole percentage. */
function reservePercent(text: string): number {
  return wholeNumber(
    'background-budget-reserve',
    text,
    { min: 0, max: 100 },
    'a percentage between 0 and 100',
  );
}

/**
 * `--registry-budget` entries over the default (Docker Hub's anonymous limit for docker.io), each
 * keeping `reserve` percent of its pulls (rounded up) for admissions.
 */
export function registryBudgets(
  entries: readonly string[],
  reserve = DEFAULT_BACKGROUND_RESERVE_PERCENT,
): Map<string, RegistryBudget> {
  const withReserve = (pulls: number, periodMs: number): RegistryBudget => ({
    pulls,
    periodMs,
    reserve: Math.ceil((pulls * reserve) / 100),
  });
  const hub = DOCKER_HUB_ANONYMOUS_BUDGET;
  const budgets = new Map<string, RegistryBudget>([['docker.io', withReserve(hub.pulls, hub.periodMs)]]);
  for (const entry of entries.flatMap((e) => e.split(',')).map((e) => e.trim())) {
    if (entry === '') continue;
    const m = /^([^=\s]+)=(?:unlimited|(\d+)\/(\S+))$/.exec(entry);
    if (m === null || m[2] === '0') {
      throw new CliError(
        'USAGE',
        `invalid --registry-budget ${JSON.stringify(entry)}: expected REGISTRY=PULLS/DURATION (e.g. docker.io=100/6h) or REGISTRY=unlimited`,
      );
    }
    const registry = m[1]!;
    if (m[2] === undefined) {
      budgets.delete(registry);
      continue;
    }
    const periodMs = parseDuration('registry-budget', m[3]!);
    if (periodMs <= 0)
      throw new CliError('USAGE', `invalid --registry-budget ${JSON.stringify(entry)}: empty period`);
    budgets.set(registry, withReserve(Number(m[2]), periodMs));
  }
  return budgets;
}

type Pick = (
  name: Exclude<keyof typeof flags, 'watch-policies' | 'verify-running' | 'registry-budget'>,
  variable: string,
) => string | undefined;

/** A duration flag, `fallback` when unset: positive, or also 0 (`0`, `0s`) with `allowZero`. */
function durationFlag(
  pick: Pick,
  name: Parameters<Pick>[0],
  variable: string,
  fallback: number,
  { allowZero = false } = {},
): number {
  const text = pick(name, variable);
  if (text === undefined) return fallback;
  const ms = text === '0' && allowZero ? 0 : parseDuration(name, text);
  if (ms < 0 || (ms === 0 && !allowZero))
    throw new CliError('USAGE', `invalid --${name} ${JSON.stringify(text)}: expected a positive duration`);
  return ms;
}

const HOUR_MS = 3_600_000;

/** The --tls-secret flags, checked against each other; undefined without --tls-secret. */
function selfManagedTls(pick: Pick): SelfManagedTls | undefined {
  const secretName = pick('tls-secret', 'TLS_SECRET');
  const others = [
    'tls-hosts',
    'webhook-configuration',
    'tls-ca-validity',
    'tls-ca-renew-before',
    'tls-cert-validity',
    'tls-cert-renew-before',
    'tls-bundle-delay',
  ] as const;
  if (secretName === undefined) {
    const stray = others.find((name) => pick(name, name.replaceAll('-', '_').toUpperCase()) !== undefined);
    if (stray !== undefined) throw new CliError('USAGE', `--${stray} needs --tls-secret`);
    return undefined;
  }
  const list = (text: string | undefined) =>
    (text ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter((h) => h !== '');
  const hosts = list(pick('tls-hosts', 'TLS_HOSTS'));
  if (hosts.length === 0)
    throw new CliError('USAGE', '--tls-secret needs --tls-hosts, the names the certificate is for');
  const caValidityMs = durationFlag(pick, 'tls-ca-validity', 'TLS_CA_VALIDITY', 365 * 24 * HOUR_MS);
  const certValidityMs = durationFlag(pick, 'tls-cert-validity', 'TLS_CERT_VALIDITY', 90 * 24 * HOUR_MS);
  const caRenewBeforeMs = durationFlag(
    pick,
    'tls-ca-renew-before',
    'TLS_CA_RENEW_BEFORE',
    Math.floor(caValidityMs / 3),
  );
  const certRenewBeforeMs = durationFlag(
    pick,
    'tls-cert-renew-before',
    'TLS_CERT_RENEW_BEFORE',
    Math.floor(certValidityMs / 3),
  );
  const bundleDelayMs = durationFlag(pick, 'tls-bundle-delay', 'TLS_BUNDLE_DELAY', 60_000);
  if (caRenewBeforeMs >= caValidityMs)
    throw new CliError('USAGE', '--tls-ca-renew-before must be shorter than --tls-ca-validity');
  if (certRenewBeforeMs >= certValidityMs) {
    throw new CliError('USAGE', '--tls-cert-renew-before must be shorter than --tls-cert-validity');
  }
  // A certificate due for renewal waits for a new CA's bundle delay: it must not expire meanwhile.
  if (bundleDelayMs >= certRenewBeforeMs || bundleDelayMs >= caRenewBeforeMs) {
    throw new CliError(
      'USAGE',
      '--tls-bundle-delay must be shorter than --tls-cert-renew-before and --tls-ca-renew-before',
    );
  }
  return {
    secretName,
    webhookConfigurations: list(pick('webhook-configuration', 'WEBHOOK_CONFIGURATION')),
    rotation: {
      hosts,
      caName: `portcullis-ca-${secretName}`.slice(0, 64),
      caValidityMs,
      caRenewBeforeMs,
      certValidityMs,
      certRenewBeforeMs,
      bundleDelayMs,
    },
  };
}

/** Flags win over PORTCULLIS_* variables, which win over the defaults. */
export function resolveServeSettings(argv: readonly string[], env: Io['env']): ServeSettings {
  const { flags: f, positionals } = parseArgs(argv, flags);
  if (positionals.length > 0)
    throw new CliError('USAGE', `unexpected argument ${JSON.stringify(positionals[0])}`);
  const pick: Pick = (name, variable) => {
    const value = f[name] ?? env[`PORTCULLIS_${variable}`];
    return value === '' ? undefined : value;
  };
  const timeoutText = pick('timeout', 'TIMEOUT') ?? '8';
  const timeout = Number(timeoutText);
  if (!/^\d+(\.\d+)?$/.test(timeoutText) || timeout <= 0 || timeout > 30) {
    throw new CliError(
      'USAGE',
      `invalid --timeout ${JSON.stringify(timeoutText)}: expected seconds between 0 and 30`,
    );
  }
  const cert = pick('tls-cert', 'TLS_CERT');
  const key = pick('tls-key', 'TLS_KEY');
  if ((cert === undefined) !== (key === undefined)) {
    throw new CliError('USAGE', '--tls-cert and --tls-key must be given together');
  }
  const { host, port } = parseListen(pick('listen', 'LISTEN') ?? '0.0.0.0:8443');
  const selfManaged = selfManagedTls(pick);
  if (selfManaged !== undefined && cert !== undefined) {
    throw new CliError('USAGE', '--tls-secret and --tls-cert/--tls-key cannot be used together');
  }
  const watchPolicies = f['watch-policies'] === true;
  const needsKube = watchPolicies
    ? '--watch-policies'
    : selfManaged !== undefined
      ? '--tls-secret'
      : undefined;
  if (f.kubeconfig !== undefined && needsKube === undefined) {
    throw new CliError('USAGE', '--kubeconfig needs --watch-policies or --tls-secret');
  }
  const cacheUrl = pick('cache-url', 'CACHE_URL');
  const cacheSecretFile = pick('cache-secret-file', 'CACHE_SECRET_FILE');
  const cacheCaFile = pick('cache-ca-file', 'CACHE_CA_FILE');
  if (cacheUrl === undefined && (cacheSecretFile !== undefined || cacheCaFile !== undefined)) {
    throw new CliError('USAGE', '--cache-secret-file and --cache-ca-file need --cache-url');
  }
  const cacheTimeout = pick('cache-timeout', 'CACHE_TIMEOUT');
  if (cacheUrl === undefined && cacheTimeout !== undefined) {
    throw new CliError('USAGE', '--cache-timeout needs --cache-url');
  }
  const commandTimeoutMs = parseDuration('cache-timeout', cacheTimeout ?? DEFAULT_CACHE_TIMEOUT);
  if (commandTimeoutMs < 1 || commandTimeoutMs > 5000) {
    throw new CliError(
      'USAGE',
      `invalid --cache-timeout ${JSON.stringify(cacheTimeout)}: expected 1ms to 5s`,
    );
  }
  const budgetEntries =
    f['registry-budget'].length > 0 ? f['registry-budget'] : [env.PORTCULLIS_REGISTRY_BUDGET ?? ''];
  if (cacheUrl !== undefined && cacheSecretFile === undefined) {
    throw new CliError('USAGE', '--cache-url needs --cache-secret-file');
  }
  if (cacheUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(cacheUrl)) {
    throw new CliError('USAGE', 'invalid --cache-url: expected redis://host:port or rediss://host:port');
  }
  let kube: ServeSettings['kube'];
  if (needsKube !== undefined) {
    const namespace = env.POD_NAMESPACE;
    if (namespace === undefined || namespace === '') {
      throw new CliError('USAGE', `${needsKube} needs POD_NAMESPACE, the webhook's own namespace`);
    }
    kube = { namespace, identity: env.POD_NAME || hostname(), kubeconfig: f.kubeconfig };
  }
  const verifyRunning = f['verify-running'] ?? ['1', 'true'].includes(env.PORTCULLIS_VERIFY_RUNNING ?? '');
  if (verifyRunning && kube === undefined) {
    throw new CliError('USAGE', '--verify-running needs --watch-policies');
  }
  for (const name of ['verify-interval', 'verify-concurrency', 'reports'] as const) {
    if (!verifyRunning && f[name] !== undefined)
      throw new CliError('USAGE', `--${name} needs --verify-running`);
  }
  return {
    ...(verifyRunning ? { background: backgroundFlags(pick) } : {}),
    config: {
      policyPath: pick('policy', 'POLICY'),
      host,
      port,
      deadlineMs: Math.round(timeout * 1000),
      mode: oneOf<Mode>('mode', pick('mode', 'MODE') ?? 'enforce', MODES),
      unknownKinds: oneOf('unknown-kinds', pick('unknown-kinds', 'UNKNOWN_KINDS') ?? 'allow', [
        'allow',
        'deny',
      ] as const),
      bodyLimit: DEFAULT_BODY_LIMIT,
      logLevel: oneOf('log-level', pick('log-level', 'LOG_LEVEL') ?? 'info', LOG_LEVELS),
      platforms: platformsFlag(pick('platforms', 'PLATFORMS') ?? DEFAULT_PLATFORMS),
      watchIntervalMs: 2000,
      shutdownDelayMs: durationFlag(pick, 'shutdown-delay', 'SHUTDOWN_DELAY', 2000, { allowZero: true }),
      drainTimeoutMs: durationFlag(pick, 'drain-timeout', 'DRAIN_TIMEOUT', 0, { allowZero: true }),
      cache: {
        ...DEFAULT_CACHE_LIMITS,
        staleIfErrorMs: durationFlag(
          pick,
          'stale-if-error',
          'STALE_IF_ERROR',
          DEFAULT_CACHE_LIMITS.staleIfErrorMs,
          { allowZero: true },
        ),
      },
    },
    tls: cert === undefined || key === undefined ? undefined : { certPath: cert, keyPath: key },
    selfManaged,
    watchPolicies,
    registriesDirPath: pick('registries.d', 'REGISTRIES_D'),
    registriesConfPath: pick('registries-conf', 'REGISTRIES_CONF'),
    shortNames: oneOf('short-names', pick('short-names', 'SHORT_NAMES') ?? 'docker', SHORT_NAME_MODES),
    authFilePath: pick('authfile', 'AUTHFILE'),
    budgets: registryBudgets(
      budgetEntries,
      reservePercent(
        pick('background-budget-reserve', 'BACKGROUND_BUDGET_RESERVE') ??
          String(DEFAULT_BACKGROUND_RESERVE_PERCENT),
      ),
    ),
    sharedCache:
      cacheUrl === undefined || cacheSecretFile === undefined
        ? undefined
        : {
            url: cacheUrl,
            password: env.PORTCULLIS_CACHE_PASSWORD || undefined,
            secretFile: cacheSecretFile,
            caFile: cacheCaFile,
            commandTimeoutMs,
          },
    kube,
  };
}

function curlExample(certPath: string, port: number): string {
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '00000000-0000-0000-0000-000000000001',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'default',
      object: { spec: { containers: [{ name: 'web', image: 'docker.io/library/nginx:1.27' }] } },
    },
  };
  return `curl --cacert ${certPath} -H 'content-type: application/json' https://localhost:${port}/validate -d '${JSON.stringify(review)}'`;
}

/**
 * Background verification of running pods, judged by the server's own checks and pull secrets,
 * scanned again whenever policies, the policy file or the trust material they name change.
 */
function startBackground(
  kubeModule: typeof import('../kube/index.ts'),
  kube: KubeIntegration<TrustPolicy>,
  server: RunningServer,
  flags: BackgroundFlags,
  where: NonNullable<ServeSettings['kube']>,
  logger: Logger,
): { stop(): Promise<void> } {
  const { BackgroundVerifier, DEFAULT_BACKGROUND, DEFAULT_INFORMER_OPTIONS, KubeRest, loadKubeConfig } =
    kubeModule;
  const onError = (err: unknown, context: string) =>
    logger.warn({ err: err instanceof Error ? err.message : String(err), context }, 'running pods');
  const verifier = new BackgroundVerifier({
    ...DEFAULT_BACKGROUND,
    rest: new KubeRest(loadKubeConfig(where.kubeconfig)),
    policies: server.workloads,
    leader: kube.leader,
    reports: flags.reports,
    intervalMs: flags.intervalMs,
    concurrency: flags.concurrency,
    informer: { ...DEFAULT_INFORMER_OPTIONS, onError: (err) => onError(err, 'watching the API server') },
    observer: server.backgroundObserver,
    identity: where.identity,
    now: () => new Date(),
    onError,
    onInfo: (fields, message) => logger.info(fields, message),
  });
  kube.policies.onChange(() => verifier.policyChanged());
  server.onPolicyReload(() => verifier.policyChanged());
  verifier.start().then(
    () => logger.info({ pods: verifier.runningPods }, 'running pods verified'),
    (err: unknown) => onError(err, 'starting the verification of running pods'),
  );
  return verifier;
}

async function readSharedCache(
  settings: NonNullable<ServeSettings['sharedCache']>,
): Promise<NonNullable<ServerConfig['sharedCache']>> {
  const read = async (flag: string, path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new CliError('USAGE', `--${flag}: ${(err as Error).message}`);
    }
  };
  const secret = await read('cache-secret-file', settings.secretFile);
  if (secret.length < 32) {
    throw new CliError('USAGE', `--cache-secret-file: expected at least 32 bytes, got ${secret.length}`);
  }
  return {
    url: settings.url,
    secret,
    commandTimeoutMs: settings.commandTimeoutMs,
    ...(settings.password === undefined ? {} : { password: settings.password }),
    ...(settings.caFile === undefined
      ? {}
      : { ca: (await read('cache-ca-file', settings.caFile)).toString() }),
  };
}

/** Resolves when SIGTERM or SIGINT arrives. */
function terminated(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export const serveCommand: Command = {
  usage: `Usage: portcullis serve [FLAGS]

Serves Kubernetes AdmissionReview v1 on /validate (and /mutate, which also pins verified
digests on Pods), plus /healthz, /readyz and /metrics. With no flags it enforces an embedded
default policy (reject everything but registry.k8s.io) with a self-signed certificate.

Flags:
${formatFlags(flags)}
`,
  async run(argv, io) {
    const settings = resolveServeSettings(argv, io.env);
    const { selfManaged, kube } = settings;
    let tls = settings.tls;
    // A certificate made for this run only, removed when it ends.
    let generated: string | undefined;
    if (tls === undefined && selfManaged === undefined) {
      const dir = await mkdtemp(join(tmpdir(), 'portcullis-tls-'));
      generated = dir;
      const pair = await writeSelfSignedCertificate(dir, ['localhost', hostname(), '127.0.0.1', '::1']);
      tls = { certPath: pair.certPath, keyPath: pair.keyPath };
      io.stderr.write(`portcullis serve: self-signed certificate written to ${pair.certPath}\n`);
    }
    // Loaded here so other commands never pay for fastify, pino, prom-client and the kube client.
    const [{ productionComponents, startServer }, { createLogger }, { SecretCertificateSource }] =
      await Promise.all([import('../server.ts'), import('../webhook/log.ts'), import('../webhook/tls.ts')]);
    // JSON log lines like the webhook's, so controller trouble sits beside the admissions it affects.
    const logger = createLogger(settings.config.logLevel);
    const components = productionComponents(settings);
    const certificates =
      selfManaged === undefined ? undefined : new SecretCertificateSource(selfManaged.rotation.hosts, logger);
    // The controllers start once the listener is up, so a failing start leaves nothing running.
    const crds = settings.watchPolicies ? Promise.withResolvers<KubeIntegration<TrustPolicy>>() : undefined;
    const server = await startServer(
      {
        ...settings.config,
        tlsCertPath: tls?.certPath,
        tlsKeyPath: tls?.keyPath,
        ...(settings.sharedCache === undefined
          ? {}
          : { sharedCache: await readSharedCache(settings.sharedCache) }),
      },
      {
        ...components,
        ...(crds === undefined ? {} : { crds: crds.promise }),
        ...(certificates === undefined ? {} : { certificates }),
      },
    );
    let stopped: Promise<string | Error> = terminated();
    let background: { stop(): Promise<void> } | undefined;
    const stops: (() => Promise<void> | void)[] = [];
    let leadership: { release(): Promise<void> } | undefined;
    if (kube !== undefined) {
      const k = await import('../kube/index.ts');
      const api = k.kubeApi(kube.kubeconfig);
      const onError = (err: unknown, context: string) =>
        logger.warn({ err: err instanceof Error ? err.message : String(err), context }, 'kubernetes');
      const leader = k.leaderElector(api, kube.namespace, kube.identity, (err) =>
        onError(err, 'leader election'),
      );
      leader.start();
      leadership = leader;
      stops.push(() => leader.release());
      if (selfManaged !== undefined && certificates !== undefined) {
        const { planRotation } = await import('../webhook/cert-rotation.ts');
        const secret = `${kube.namespace}/${selfManaged.secretName}`;
        const controller = k.startCertificates({
          api,
          leader,
          namespace: kube.namespace,
          secretName: selfManaged.secretName,
          webhookConfigurations: selfManaged.webhookConfigurations,
          plan: (data, now, propagated) => planRotation(data, selfManaged.rotation, now, propagated),
          bundleDelayMs: selfManaged.rotation.bundleDelayMs,
          onSecret: (data) => certificates.update(data, secret),
          onNote: (note) => logger.info({ secret }, `certificates: ${note}`),
          onError,
        });
        stops.unshift(() => controller.stop());
      }
      if (crds !== undefined) {
        const starting = k.startKube({
          compile: components.compilePolicy,
          namespace: kube.namespace,
          identity: kube.identity,
          api,
          leader,
          onError: (err, context) =>
            logger.warn({ err: err instanceof Error ? err.message : String(err), context }, 'policy CRDs'),
        });
        crds.resolve(starting);
        let synced: KubeIntegration<TrustPolicy> | undefined;
        starting.then(
          (s) => {
            synced = s;
            if (settings.background !== undefined) {
              background = startBackground(k, s, server, settings.background, kube, logger);
            }
          },
          () => {},
        );
        // A controller still waiting for its first sync cannot be stopped; the exit ends it.
        stops.unshift(async () => synced?.stop());
        // startKube fails only on a bad configuration (informers retry): the webhook exits then.
        stopped = Promise.race([
          stopped,
          starting.then(
            () => new Promise<never>(() => {}),
            (err: unknown) => err as Error,
          ),
        ]);
      }
    }
    const policy = settings.config.policyPath ?? (settings.watchPolicies ? 'none' : 'embedded default');
    const certificate =
      selfManaged === undefined ? tls?.certPath : `Secret ${kube?.namespace}/${selfManaged.secretName}`;
    io.stderr.write(
      `portcullis serve: listening on ${server.url} (policy: ${policy}${settings.watchPolicies ? ' + policy CRDs' : ''}, mode: ${settings.config.mode}, certificate: ${certificate})\n` +
        (tls === undefined ? '' : `try:\n  ${curlExample(tls.certPath, server.port)}\n`),
    );
    const stop = await stopped;
    io.stderr.write(
      stop instanceof Error
        ? `portcullis serve: policy CRDs: ${stop.message}\n`
        : `portcullis serve: ${stop}: finishing in-flight reviews\n`,
    );
    // A step that fails is logged and the next one still runs: nothing may cut the drain short.
    const step = async (context: string, run: () => Promise<void> | void) => {
      try {
        await run();
      } catch (err) {
        logger.warn({ err: err instanceof Error ? err.message : String(err), context }, 'shutdown');
      }
    };
    await step('running pods', () => background?.stop());
    // A draining replica leads nothing: another one takes over policy status, reports and
    // certificate rotation now rather than after the drain.
    await step('leader election', () => leadership?.release());
    await server.close();
    for (const s of stops) await step('controllers', s);
    if (generated !== undefined)
      await step('certificate', () => rm(generated, { recursive: true, force: true }));
    return stop instanceof Error ? 1 : 0;
  },
};
