// Builds the webhook app over in-test policy fakes, and AdmissionReviews for every workload kind.
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ExceptionSource } from '../../src/policy/index.ts';
import type { AdmissionSettings, Mode, PolicyCheck } from '../../src/webhook/admit.ts';
import { buildApp } from '../../src/webhook/app.ts';
import { createLogger } from '../../src/webhook/log.ts';
import { createMetrics } from '../../src/webhook/metrics.ts';
import { DEFAULT_BODY_LIMIT } from '../../src/webhook/review.ts';
import type { KeyPair } from '../../src/webhook/tls.ts';
import { type CheckerRig, checkerRig, FakePullSecrets } from '../policy/fakes.ts';

export interface AppRig extends CheckerRig {
  readonly app: FastifyInstance;
  readonly pullSecrets: FakePullSecrets;
  /** Everything logged, one JSON document per line. */
  readonly logs: () => string;
}

export function appRig(
  options: Partial<Pick<AdmissionSettings, 'mode' | 'deadlineMs' | 'unknownKinds'>> & {
    bodyLimit?: number;
    /** Policy checks after the rig's own (CRD policies, in serve). */
    extraChecks?: readonly PolicyCheck[];
    exceptions?: ExceptionSource;
    /** Serve HTTPS with this pair (then listen) instead of answering inject() only. */
    tls?: KeyPair;
  } = {},
): AppRig {
  const metrics = createMetrics();
  const rig = checkerRig({ observer: metrics });
  const pullSecrets = new FakePullSecrets();
  let logged = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      logged += chunk.toString();
      done();
    },
  });
  const mode = options.mode ?? 'enforce';
  const app = buildApp({
    admission: {
      checks: () => [{ mode, checker: rig.checker }, ...(options.extraChecks ?? [])],
      pullSecrets,
      mode,
      deadlineMs: options.deadlineMs ?? 2000,
      unknownKinds: options.unknownKinds ?? 'allow',
      ...(options.exceptions === undefined ? {} : { exceptions: options.exceptions }),
      metrics,
      logger: createLogger('debug', sink),
    },
    ready: () => rig.evaluator !== undefined,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  return Object.assign(rig, { app, pullSecrets, logs: () => logged });
}

export interface ReviewOptions {
  readonly uid?: string;
  readonly operation?: string;
  readonly subResource?: string;
  readonly oldObject?: unknown;
  readonly dryRun?: boolean;
  readonly namespace?: string;
}

export function review(group: string, kind: string, object: unknown, options: ReviewOptions = {}) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: options.uid ?? 'b6f0c0a4-6d1c-4c8e-9d1e-000000000001',
      kind: { group, version: 'v1', kind },
      resource: { group, version: 'v1', resource: `${kind.toLowerCase()}s` },
      ...(options.subResource === undefined ? {} : { subResource: options.subResource }),
      requestKind: { group, version: 'v1', kind },
      name: 'demo',
      namespace: options.namespace ?? 'team-a',
      operation: options.operation ?? 'CREATE',
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      object,
      oldObject: options.oldObject ?? null,
      dryRun: options.dryRun ?? false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

export function podSpec(images: readonly string[], extra: Record<string, unknown> = {}) {
  return { containers: images.map((image, i) => ({ name: `c${i}`, image })), ...extra };
}

/** Wraps a pod spec the way `group/kind` carries it. */
export function workload(group: string, kind: string, spec: unknown): unknown {
  const template = { metadata: { labels: { app: 'demo' } }, spec };
  const meta = {
    apiVersion: group === '' ? 'v1' : `${group}/v1`,
    kind,
    metadata: { name: 'demo', namespace: 'team-a' },
  };
  switch (kind) {
    case 'Pod':
      return { ...meta, spec };
    case 'PodTemplate':
      return { ...meta, template };
    case 'CronJob':
      return { ...meta, spec: { schedule: '* * * * *', jobTemplate: { spec: { template } } } };
    default:
      return { ...meta, spec: { selector: { matchLabels: { app: 'demo' } }, template } };
  }
}

export async function post(app: FastifyInstance, path: string, body: unknown) {
  const res = await app.inject({ method: 'POST', url: path, payload: body as object });
  return { status: res.statusCode, body: res.json(), raw: res.body };
}

export type { Mode };
