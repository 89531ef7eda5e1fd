// Running workloads for the API-server-only cluster: with no controller manager, a Deployment
// makes no ReplicaSet and no Pod, so the chain is created here as the controllers would (owner
// references with controller: true); the pods stay Pending, which is all the verification reads.
import type { Cluster } from './harness.ts';
import { ok } from './product/fixtures.ts';

export interface Owned {
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

async function create(cluster: Cluster, object: object): Promise<Owned & { apiVersion: string }> {
  const out = ok(
    await cluster.kubectl(['create', '-o', 'json', '-f', '-'], { input: JSON.stringify(object) }),
    'create',
  );
  const created = JSON.parse(out) as {
    apiVersion: string;
    kind: string;
    metadata: { name: string; uid: string };
  };
  return {
    apiVersion: created.apiVersion,
    kind: created.kind,
    name: created.metadata.name,
    uid: created.metadata.uid,
  };
}

const controllerRef = (o: Owned & { apiVersion: string }) => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  name: o.name,
  uid: o.uid,
  controller: true,
  blockOwnerDeletion: true,
});

export interface PodOptions {
  readonly serviceAccount?: string;
  readonly pullSecrets?: readonly string[];
}

const podSpec = (images: readonly string[], options: PodOptions) => ({
  ...(options.serviceAccount === undefined ? {} : { serviceAccountName: options.serviceAccount }),
  ...(options.pullSecrets === undefined
    ? {}
    : { imagePullSecrets: options.pullSecrets.map((name) => ({ name })) }),
  containers: images.map((image, i) => ({ name: `c${i}`, image })),
});

/** A Deployment, its ReplicaSet and `replicas` Pods owned through it; returns the Deployment. */
export async function runDeployment(
  cluster: Cluster,
  namespace: string,
  name: string,
  images: readonly string[],
  options: PodOptions = {},
  replicas = 1,
): Promise<Owned> {
  const labels = { app: name };
  const spec = podSpec(images, options);
  const deployment = await create(cluster, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: { replicas, selector: { matchLabels: labels }, template: { metadata: { labels }, spec } },
  });
  const replicaSet = await create(cluster, {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: `${name}-5d9c7`, namespace, labels, ownerReferences: [controllerRef(deployment)] },
    spec: { replicas, selector: { matchLabels: labels }, template: { metadata: { labels }, spec } },
  });
  for (let i = 0; i < replicas; i++) {
    await create(cluster, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${name}-5d9c7-${i}`,
        namespace,
        labels,
        ownerReferences: [controllerRef(replicaSet)],
      },
      spec,
    });
  }
  return deployment;
}

/** A Pod of no controller. */
export async function runPod(
  cluster: Cluster,
  namespace: string,
  name: string,
  images: readonly string[],
  options: PodOptions = {},
): Promise<Owned> {
  return create(cluster, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: podSpec(images, options),
  });
}

/** A kubernetes.io/dockerconfigjson Secret for `host` with a user and password. */
export function pullSecret(
  namespace: string,
  name: string,
  host: string,
  user: string,
  password: string,
): object {
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'kubernetes.io/dockerconfigjson',
    data: {
      '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [host]: { auth } } })).toString('base64'),
    },
  };
}
