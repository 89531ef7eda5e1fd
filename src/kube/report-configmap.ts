// Publishes a status report (the mirror CronJob's sync report) as a ConfigMap, by server-side apply:
// one request creates or replaces it, whoever wrote it before.
import { readFile } from 'node:fs/promises';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { loadKubeConfig } from './client.ts';
import { KubeError } from './types.ts';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const TIMEOUT_MS = 30_000;
const MAX_RESPONSE = 64 << 10;
/** ConfigMaps hold at most 1 MiB; keep room for metadata. */
export const MAX_CONFIGMAP_DATA = 1_000_000;

export interface ConfigMapReport {
  /** `NAME` or `NAMESPACE/NAME`; without a namespace, the pod's (or the kubeconfig context's). */
  readonly target: string;
  readonly data: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  /** A kubeconfig file; in-cluster config or ~/.kube/config when undefined. */
  readonly kubeconfig?: string;
}

async function defaultNamespace(contextNamespace: string | undefined): Promise<string> {
  try {
    return (await readFile(SERVICE_ACCOUNT_NAMESPACE, 'utf8')).trim();
  } catch {
    return contextNamespace ?? 'default';
  }
}

function send(url: URL, options: RequestOptions, body: string): Promise<{ status: number; text: string }> {
  const request = url.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { ...options, timeout: TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < MAX_RESPONSE) text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: text.slice(0, MAX_RESPONSE) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Creates or replaces the ConfigMap; returns `namespace/name`. */
export async function applyReportConfigMap(report: ConfigMapReport): Promise<string> {
  const kc = loadKubeConfig(report.kubeconfig);
  const slash = report.target.indexOf('/');
  const context = kc.getContextObject(kc.getCurrentContext());
  const namespace = slash < 0 ? await defaultNamespace(context?.namespace) : report.target.slice(0, slash);
  const name = slash < 0 ? report.target : report.target.slice(slash + 1);
  const dns = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
  if (!dns.test(name) || !dns.test(namespace))
    throw new KubeError('API_ERROR', `report configmap ${JSON.stringify(report.target)}: invalid name`);
  const size = Object.values(report.data).reduce((n, v) => n + Buffer.byteLength(v), 0);
  if (size > MAX_CONFIGMAP_DATA) {
    throw new KubeError(
      'API_ERROR',
      `report configmap ${namespace}/${name}: expected at most ${MAX_CONFIGMAP_DATA} bytes of data, got ${size}`,
    );
  }
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined)
    throw new KubeError('API_ERROR', 'report configmap: no cluster in the kubeconfig');
  const url = new URL(
    `${server.replace(/\/$/, '')}/api/v1/namespaces/${namespace}/configmaps/${name}?fieldManager=portcullis-sync&force=true`,
  );
  const options: RequestOptions & { headers: Record<string, string> } = {
    method: 'PATCH',
    headers: { 'content-type': 'application/apply-patch+yaml', accept: 'application/json' },
  };
  await kc.applyToHTTPSOptions(options);
  const body = JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, ...(report.labels !== undefined ? { labels: report.labels } : {}) },
    data: report.data,
  });
  let res: { status: number; text: string };
  try {
    res = await send(url, options, body);
  } catch (err) {
    throw new KubeError(
      'API_ERROR',
      `writing report configmap ${namespace}/${name}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (res.status !== 200 && res.status !== 201) {
    let detail = '';
    try {
      detail = `: ${String((JSON.parse(res.text) as { message?: unknown }).message ?? '')}`;
    } catch {
      // not a Status object
    }
    throw new KubeError(
      res.status === 404 ? 'NOT_FOUND' : res.status === 409 ? 'CONFLICT' : 'API_ERROR',
      `writing report configmap ${namespace}/${name}: HTTP ${res.status}${detail}`,
    );
  }
  return `${namespace}/${name}`;
}
