// The AdmissionReview the benchmarks send: a realistic 3-container Pod.
/** A Pod as the API server sends it for `kubectl apply` of a typical 3-container workload. */
export function realisticPodReview(
  uid: string,
  images: readonly [app: string, proxy: string, migrate: string],
) {
  const container = (name: string, image: string) => ({
    name,
    image,
    imagePullPolicy: 'IfNotPresent',
    ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }],
    env: [
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    ],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    readinessProbe: { httpGet: { path: '/ready', port: 'http', scheme: 'HTTP' }, periodSeconds: 10 },
    securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    volumeMounts: [
      { mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', name: 'kube-api-access', readOnly: true },
    ],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  });
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: {
        username: 'system:serviceaccount:kube-system:replicaset-controller',
        groups: ['system:serviceaccounts'],
      },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          generateName: 'checkout-7d9f8c6b5-',
          namespace: 'shop',
          labels: { app: 'checkout', 'pod-template-hash': '7d9f8c6b5' },
          annotations: { 'prometheus.io/scrape': 'true' },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              name: 'checkout-7d9f8c6b5',
              uid: 'f3c1b2a4-0000-4000-8000-000000000001',
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: {
          initContainers: [container('migrate', images[2])],
          containers: [container('app', images[0]), container('proxy', images[1])],
          serviceAccountName: 'checkout',
          imagePullSecrets: [{ name: 'registry-credentials' }],
          restartPolicy: 'Always',
          dnsPolicy: 'ClusterFirst',
          volumes: [
            {
              name: 'kube-api-access',
              projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] },
            },
          ],
        },
      },
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

/** The same Pod with nothing but container names and images: the smallest review of three images. */
export function smallPodReview(uid: string, images: readonly [app: string, proxy: string, migrate: string]) {
  const full = realisticPodReview(uid, images);
  const { kind, namespace, operation } = full.request;
  const spec = {
    initContainers: [{ name: 'migrate', image: images[2] }],
    containers: [
      { name: 'app', image: images[0] },
      { name: 'proxy', image: images[1] },
    ],
  };
  return { ...full, request: { uid, kind, namespace, operation, object: { spec } } };
}
