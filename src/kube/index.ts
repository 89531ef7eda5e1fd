// The entry of the Kubernetes layer: the policy source and pull secrets the webhook consumes.
import type { PolicyCompiler } from '../policy/crd/compile.ts';
import { CertificateController, type CertificateControllerOptions } from './certificates.ts';
import { ClientKubeApi, loadKubeConfig } from './client.ts';
import { ExceptionWatcher } from './exceptions.ts';
import { DEFAULT_INFORMER_OPTIONS } from './informer.ts';
import { LeaderElector } from './leader.ts';
import { PolicyController } from './policy-controller.ts';
import { KubePullSecrets } from './pull-secrets.ts';
import type { KubeApi } from './types.ts';

export type { ActivePolicy, PolicyChange, PolicySource } from '../policy/crd/source.ts';
export { type BackgroundSettings, BackgroundVerifier, DEFAULT_BACKGROUND } from './background.ts';
export { CertificateController, type CertificateData, type CertificatePlan } from './certificates.ts';
export { ClientKubeApi, loadKubeConfig, parseYamlDocuments, toYaml } from './client.ts';
export { ExceptionWatcher } from './exceptions.ts';
export { DEFAULT_INFORMER_OPTIONS } from './informer.ts';
export { LeaderElector } from './leader.ts';
export { RunningPods } from './pods.ts';
export { PolicyController } from './policy-controller.ts';
export {
  dockercfgToConfigJson,
  KubePullSecrets,
  type PodCredentialContext,
  type PullCredentials,
} from './pull-secrets.ts';
export { applyReportConfigMap, type ConfigMapReport, MAX_CONFIGMAP_DATA } from './report-configmap.ts';
export { REPORT_APIS, type ReportApi } from './reports.ts';
export { KubeRest } from './rest.ts';
export { type KubeApi, KubeError, type KubeErrorCode } from './types.ts';

export interface KubeSettings<T> {
  /** Parses policy.json text (key material inline) into the evaluator; must load every key eagerly, throwing on any that does not parse. */
  readonly compile: PolicyCompiler<T>;
  /** The namespace the webhook runs in: ClusterImagePolicy key references and the Lease live there. */
  readonly namespace: string;
  /** This replica's name (the pod name), for the Lease. */
  readonly identity: string;
  /** A kubeconfig file; in-cluster config or ~/.kube/config when undefined. */
  readonly kubeconfig?: string;
  readonly onError: (err: unknown, context: string) => void;
  /** Namespaces whose pull secrets may be read (a Role in each); undefined: all (a ClusterRole). */
  readonly pullSecretNamespaces?: readonly string[];
  /** For tests: an API other than the kubeconfig's. */
  readonly api?: KubeApi;
  /** A Lease competed for elsewhere (shared with the certificates); else startKube runs its own. */
  readonly leader?: LeaderElector;
}

/** The API of a kubeconfig file (in-cluster config or ~/.kube/config when undefined). */
export function kubeApi(kubeconfig?: string): KubeApi {
  return new ClientKubeApi(loadKubeConfig(kubeconfig));
}

/** The one Lease of the webhook's replicas (not started): its holder writes status, Events and certificates. */
export function leaderElector(
  api: KubeApi,
  namespace: string,
  identity: string,
  onError: (err: unknown) => void,
): LeaderElector {
  return new LeaderElector(api, {
    namespace,
    name: 'portcullis-controller',
    identity,
    leaseDurationSeconds: 15,
    retryPeriodMs: 2000,
    now: () => new Date(),
    onError,
  });
}

export type CertificateSettings = Omit<CertificateControllerOptions, 'informer' | 'now' | 'retryMs'>;

/** Starts the self-managed certificates (the Secret's watch retries until it lists). */
export function startCertificates(settings: CertificateSettings): CertificateController {
  const controller = new CertificateController({
    ...settings,
    informer: {
      ...DEFAULT_INFORMER_OPTIONS,
      onError: (err: unknown) => settings.onError(err, 'watching the certificate secret'),
    },
    now: () => new Date(),
    retryMs: 5000,
  });
  void controller.start();
  return controller;
}

export interface KubeIntegration<T> {
  readonly policies: PolicyController<T>;
  readonly pullSecrets: KubePullSecrets;
  /** The Lease this replica competes for: only its holder writes status, Events and reports. */
  readonly leader: LeaderElector;
  /** Break-glass exceptions; not part of readiness (a cluster without their CRD has none). */
  readonly exceptions: ExceptionWatcher;
  /** For /readyz: every informer synced and every policy compiled once. */
  ready(): boolean;
  stop(): Promise<void>;
}

/** Starts the controller; resolves after the first sync of every informer. */
export async function startKube<T>(settings: KubeSettings<T>): Promise<KubeIntegration<T>> {
  const api = settings.api ?? kubeApi(settings.kubeconfig);
  const informer = {
    ...DEFAULT_INFORMER_OPTIONS,
    onError: (err: unknown) => settings.onError(err, 'watching the API server'),
  };
  const own = settings.leader === undefined;
  const leader =
    settings.leader ??
    leaderElector(api, settings.namespace, settings.identity, (err) =>
      settings.onError(err, 'leader election'),
    );
  const policies = new PolicyController<T>({
    api,
    compile: settings.compile,
    controllerNamespace: settings.namespace,
    leader,
    informer,
    refLoadTimeoutMs: 5000,
    now: () => new Date(),
    onError: settings.onError,
  });
  const pullSecrets = new KubePullSecrets(api, informer, settings.pullSecretNamespaces);
  const exceptions = new ExceptionWatcher({
    api,
    leader,
    informer: {
      ...informer,
      onError: (err: unknown) => settings.onError(err, 'watching ImageTrustExceptions'),
    },
    now: Date.now,
    onError: settings.onError,
    eventIntervalMs: 10 * 60_000,
  });
  if (own) leader.start();
  // Exceptions only ever admit more, so serving before their first list (or on a cluster without
  // their CRD, where the list keeps failing) is the fail-closed choice, not a gap.
  void exceptions.start();
  await Promise.all([policies.start(), pullSecrets.start()]);
  return {
    policies,
    pullSecrets,
    leader,
    exceptions,
    ready: () => policies.ready() && pullSecrets.ready(),
    stop: async () => {
      if (own) leader.stop();
      await Promise.all([policies.stop(), pullSecrets.stop(), exceptions.stop()]);
    },
  };
}
