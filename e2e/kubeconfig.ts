// Kubeconfigs for the e2e clusters (admin, ServiceAccount token, component client certificates)
// and kubectl and helm acting with one.
import { join } from 'node:path';
import type { Pki } from './pki.ts';
import { type CommandOptions, type CommandResult, run } from './processes.ts';

export function adminKubeconfig(server: string, pki: Pki): string {
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

export function serviceAccountKubeconfig(
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

export function clientKubeconfig(
  server: string,
  caPath: string,
  cert: { certPath: string; keyPath: string },
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server, 'certificate-authority': caPath } }],
    users: [{ name: 'e2e', user: { 'client-certificate': cert.certPath, 'client-key': cert.keyPath } }],
    contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'e2e' } }],
    'current-context': 'e2e',
  });
}

export type KubeCommand = (args: string[], options?: CommandOptions) => Promise<CommandResult>;

/** kubectl and helm acting with `kubeconfig`; helm keeps its cache and config in `helmHome`. */
export function kubeClients(
  binaries: { kubectl: string; helm: string },
  kubeconfig: string,
  helmHome: string,
): { kubectl: KubeCommand; helm: KubeCommand } {
  return {
    kubectl: (args, opts = {}) => run(binaries.kubectl, [`--kubeconfig=${kubeconfig}`, ...args], opts),
    helm: (args, opts = {}) =>
      run(binaries.helm, [`--kubeconfig=${kubeconfig}`, ...args], {
        ...opts,
        env: {
          HELM_CACHE_HOME: join(helmHome, 'cache'),
          HELM_CONFIG_HOME: join(helmHome, 'config'),
          HELM_DATA_HOME: join(helmHome, 'data'),
          ...opts.env,
        },
      }),
  };
}
