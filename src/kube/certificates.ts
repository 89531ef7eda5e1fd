// Self-managed serving certificates over the API: every replica watches the certificate Secret
// (one object, by name) and hands its data on; the Lease holder also plans rotations (the planner
// is given: src/webhook/cert-rotation.ts), writes the Secret and keeps the caBundle of the
// webhook's own configurations, named by the install, equal to the Secret's CAs.
import { Informer, type InformerOptions } from './informer.ts';
import type { LeaderElector } from './leader.ts';
import { type KubeApi, KubeError, type SecretObject, type WebhookKind } from './types.ts';

/** The Secret's data, decoded from base64. */
export type CertificateData = Readonly<Partial<Record<string, Buffer>>>;

/** What the Lease holder does with the Secret (the shape of cert-rotation.ts's RotationPlan). */
export interface CertificatePlan {
  /** New data, PEM per key; undefined when the Secret stays as it is. */
  readonly write: Readonly<Record<string, string>> | undefined;
  /** The PEM every caBundle must carry. */
  readonly caBundle: string;
  /** The fingerprints of the CAs in caBundle. */
  readonly cas: readonly string[];
  readonly notes: readonly string[];
  readonly nextCheck: Date;
}

export interface CertificateControllerOptions {
  readonly api: KubeApi;
  readonly leader: LeaderElector;
  readonly namespace: string;
  readonly secretName: string;
  /** ValidatingWebhookConfiguration and MutatingWebhookConfiguration names; those that exist are kept. */
  readonly webhookConfigurations: readonly string[];
  /** `propagated(fp)`: that CA has been in every caBundle for bundleDelayMs. */
  readonly plan: (
    data: CertificateData,
    now: Date,
    propagated: (fingerprint: string) => boolean,
  ) => CertificatePlan;
  readonly bundleDelayMs: number;
  /** Called with the Secret's data on every change it goes through; undefined once it is deleted. */
  readonly onSecret: (data: CertificateData | undefined) => void;
  /** What the Lease holder changed and why. */
  readonly onNote: (note: string) => void;
  readonly onError: (err: unknown, context: string) => void;
  readonly informer: InformerOptions;
  readonly now: () => Date;
  /** How long after a failed round the Lease holder tries again. */
  readonly retryMs: number;
}

const KINDS: readonly WebhookKind[] = ['validating', 'mutating'];

function decodeSecretData(secret: SecretObject | undefined): CertificateData {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(secret?.data ?? {})) out[k] = Buffer.from(v, 'base64');
  return out;
}

export class CertificateController {
  readonly #o: CertificateControllerOptions;
  readonly #informer: Informer<SecretObject>;
  /** When this Lease holder saw each CA in every caBundle; a new holder starts counting again. */
  readonly #inBundleSince = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #due = Number.POSITIVE_INFINITY;
  #round: Promise<void> = Promise.resolve();
  #stopped = false;
  #missingConfigsNoted = false;

  constructor(options: CertificateControllerOptions) {
    this.#o = options;
    this.#informer = new Informer(
      options.api.watch<SecretObject>({
        resource: 'secrets',
        namespace: options.namespace,
        fieldSelector: `metadata.name=${options.secretName}`,
      }),
      options.informer,
    );
    const changed = (obj: SecretObject | undefined) => {
      options.onSecret(obj === undefined ? undefined : decodeSecretData(obj));
      // Someone else's edit is looked at at once; our own comes back as a no-op round.
      if (options.leader.isLeader) this.#schedule(0);
    };
    this.#informer.on('add', changed);
    this.#informer.on('update', changed);
    this.#informer.on('delete', () => changed(undefined));
    options.leader.onChange((leader) => {
      if (leader) this.#schedule(0);
      else {
        this.#inBundleSince.clear();
        this.#cancel();
      }
    });
  }

  /** Starts watching; resolves after the first list of the Secret. */
  async start(): Promise<void> {
    this.#stopped = false;
    if (this.#o.leader.isLeader) this.#schedule(0);
    await this.#informer.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancel();
    await this.#round;
    await this.#informer.stop();
  }

  /** Resolves when the round in progress (if any) is done; for tests. */
  settled(): Promise<void> {
    return this.#round;
  }

  #cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#due = Number.POSITIVE_INFINITY;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    const due = Date.now() + Math.max(0, delayMs);
    if (this.#timer !== undefined && this.#due <= due) return;
    clearTimeout(this.#timer);
    this.#due = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#due = Number.POSITIVE_INFINITY;
      // Rounds never overlap: the next waits for the one in progress.
      this.#round = this.#round.then(() => this.#reconcile());
    }, delayMs);
    this.#timer.unref();
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped || !this.#o.leader.isLeader) return;
    const { api, namespace, secretName } = this.#o;
    try {
      const secret = await api.readSecret(namespace, secretName);
      if (secret === undefined) {
        throw new KubeError(
          'NOT_FOUND',
          `certificate secret ${namespace}/${secretName} not found: the install creates it (empty), the webhook fills it`,
        );
      }
      const now = this.#o.now();
      const plan = this.#o.plan(decodeSecretData(secret), now, (fp) => this.#propagated(fp, now));
      for (const note of plan.notes) this.#o.onNote(note);
      if (plan.write !== undefined) {
        const data: Record<string, string> = {};
        for (const [k, v] of Object.entries(plan.write)) data[k] = Buffer.from(v).toString('base64');
        await api.replaceSecret(secret, data);
      }
      await this.#syncCaBundles(plan);
      this.#schedule(plan.nextCheck.getTime() - this.#o.now().getTime());
    } catch (err) {
      // A lost race with another writer: read again soon. Anything else: tell, and retry later.
      if (err instanceof KubeError && err.code === 'CONFLICT') this.#schedule(200);
      else {
        this.#o.onError(err, 'self-managed certificates');
        this.#schedule(this.#o.retryMs);
      }
    }
  }

  #propagated(fingerprint: string, now: Date): boolean {
    const since = this.#inBundleSince.get(fingerprint);
    return since !== undefined && now.getTime() - since >= this.#o.bundleDelayMs;
  }

  async #syncCaBundles(plan: CertificatePlan): Promise<void> {
    const { api } = this.#o;
    const caBundle = Buffer.from(plan.caBundle).toString('base64');
    let found = 0;
    for (const name of this.#o.webhookConfigurations) {
      for (const kind of KINDS) {
        const config = await api.readWebhookConfiguration(kind, name);
        if (config === undefined) continue;
        found++;
        if ((config.webhooks ?? []).every((w) => w.clientConfig?.caBundle === caBundle)) continue;
        await api.patchWebhookCaBundle(kind, config, caBundle);
        this.#o.onNote(
          `caBundle of ${kind} webhook configuration ${name} set to CAs ${plan.cas.map((c) => c.slice(0, 16)).join(', ')}`,
        );
      }
    }
    if (found === 0 && !this.#missingConfigsNoted) {
      this.#missingConfigsNoted = true;
      this.#o.onNote(
        `no webhook configuration named ${this.#o.webhookConfigurations.join(', ')}: no caBundle to keep`,
      );
    }
    const now = this.#o.now().getTime();
    for (const fp of plan.cas) if (!this.#inBundleSince.has(fp)) this.#inBundleSince.set(fp, now);
    for (const fp of this.#inBundleSince.keys()) if (!plan.cas.includes(fp)) this.#inBundleSince.delete(fp);
  }
}
