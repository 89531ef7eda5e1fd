// charts/portcullis against the real API server: helm lint, helm template with several value sets
// applied with `kubectl apply --dry-run=server`, the generated certificates, the plain manifests,
// and one release installed with its webhook pointed at Portcullis on the host.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { resolveServeSettings } from '../../src/cli/serve.ts';
import { type Cluster, eventually, startCluster } from '../harness.ts';
import {
  ok,
  type Portcullis,
  podJson,
  repoRoot,
  type SignedRegistry,
  startPortcullis,
  startSignedRegistry,
} from './fixtures.ts';

const chart = join(repoRoot, 'charts', 'portcullis');
const KUBE_VERSION = 'v1.36.3';

// The API groups of cert-manager and the Prometheus operator, as far as a server-side dry run of
// the chart's objects needs them: the real CRDs are not part of this cluster.
function standInCrd(group: string, kind: string, plural: string, version: string): object {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          },
        },
      ],
    },
  };
}

const standIns = [
  standInCrd('cert-manager.io', 'Certificate', 'certificates', 'v1'),
  standInCrd('cert-manager.io', 'Issuer', 'issuers', 'v1'),
  standInCrd('monitoring.coreos.com', 'ServiceMonitor', 'servicemonitors', 'v1'),
];

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
  webhooks?: { clientConfig: { caBundle?: string; url?: string; service?: unknown } }[];
}

function docs(text: string): Doc[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

describe('helm chart against the real API server', () => {
  let cluster: Cluster;
  let work: string;
  let caBundle: string;

  const helmTemplate = async (values: object, namespace: string): Promise<string> => {
    const file = join(work, `values-${namespace}.json`);
    await writeFile(file, JSON.stringify(values));
    return ok(
      await cluster.helm([
        'template',
        'portcullis',
        chart,
        '--namespace',
        namespace,
        '--kube-version',
        KUBE_VERSION,
        '-f',
        file,
      ]),
      `helm template ${namespace}`,
    );
  };

  before(async () => {
    cluster = await startCluster();
    work = cluster.dir;
    caBundle = Buffer.from(cluster.caPem).toString('base64');
    ok(await cluster.kubectl(['apply', '-f', join(chart, 'crds')]), 'apply the chart CRDs');
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: standIns.map((crd) => JSON.stringify(crd)).join('\n'),
      }),
      'apply stand-in CRDs',
    );
    ok(
      await cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']),
      'CRDs established',
    );
  });

  after(async () => {
    await cluster?.stop();
  });

  test('helm lint passes with the default values and refuses a value outside the schema', async () => {
    const lint = await cluster.helm(['lint', chart, '--strict']);
    assert.equal(lint.code, 0, lint.stdout + lint.stderr);
    assert.match(lint.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    const bad = await cluster.helm(['lint', chart, '--set', 'certificates.mode=selfMade']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout + bad.stderr, /certificates\/mode': value must be one of/);
  });

  const valueSets: { name: string; values: () => object; expect: string[] }[] = [
    {
      name: 'default',
      values: () => ({}),
      expect: [
        'secret/portcullis-tls',
        'deployment.apps/portcullis',
        'poddisruptionbudget.policy/portcullis',
        'validatingwebhookconfiguration.admissionregistration.k8s.io/portcullis',
        'job.batch/portcullis-cleanup',
      ],
    },
    {
      name: 'cert-manager',
      values: () => ({ certificates: { mode: 'certManager' } }),
      expect: [
        'certificate.cert-manager.io/portcullis',
        'certificate.cert-manager.io/portcullis-ca',
        'issuer.cert-manager.io/portcullis-selfsigned',
        'issuer.cert-manager.io/portcullis-ca',
        'validatingwebhookconfiguration.admissionregistration.k8s.io/portcullis',
      ],
    },
    {
      name: 'self-managed',
      values: () => ({ certificates: { mode: 'selfManaged' }, webhook: { mutating: { enabled: true } } }),
      expect: [
        'secret/portcullis-certs',
        'role.rbac.authorization.k8s.io/portcullis-certs',
        'clusterrole.rbac.authorization.k8s.io/portcullis-webhook-ca',
        'deployment.apps/portcullis',
        'validatingwebhookconfiguration.admissionregistration.k8s.io/portcullis',
        'mutatingwebhookconfiguration.admissionregistration.k8s.io/portcullis',
      ],
    },
    {
      name: 'existing-secret',
      values: () => ({
        certificates: { mode: 'existingSecret', existingSecret: { name: 'corp-tls', caBundle } },
      }),
      expect: [
        'deployment.apps/portcullis',
        'validatingwebhookconfiguration.admissionregistration.k8s.io/portcullis',
      ],
    },
    {
      name: 'all-options',
      values: () => ({
        webhook: { mutating: { enabled: true }, excludeNamespaces: ['legacy'] },
        serviceMonitor: { enabled: true },
        networkPolicy: { enabled: true },
        policy: { json: JSON.stringify({ default: [{ type: 'reject' }] }) },
        registriesD: { 'default.yaml': 'default-docker:\n  use-sigstore-attachments: true\n' },
        registriesConf: '[[registry]]\nlocation = "mirror.example"\n',
        registriesConfD: { '50-aliases.conf': '[aliases]\n"app" = "quay.io/team/app"\n' },
        podAntiAffinity: 'hard',
      }),
      expect: [
        'mutatingwebhookconfiguration.admissionregistration.k8s.io/portcullis',
        'servicemonitor.monitoring.coreos.com/portcullis',
        'networkpolicy.networking.k8s.io/portcullis',
        'deployment.apps/portcullis',
      ],
    },
    {
      name: 'shared-cache',
      values: () => ({
        availability: {
          staleIfError: '30m',
          backgroundBudgetReserve: 30,
          redis: {
            enabled: true,
            url: 'rediss://redis.cache.svc:6380/0',
            passwordSecret: 'redis-auth',
            caSecret: 'redis-ca',
          },
        },
      }),
      expect: ['secret/portcullis-cache-signing', 'deployment.apps/portcullis'],
    },
    {
      name: 'url',
      values: () => ({
        webhook: { url: 'https://127.0.0.1:9443/' },
        certificates: { mode: 'existingSecret', existingSecret: { name: 'host-tls', caBundle } },
      }),
      expect: ['validatingwebhookconfiguration.admissionregistration.k8s.io/portcullis'],
    },
  ];

  for (const set of valueSets) {
    test(`helm template (${set.name}) is accepted by kubectl apply --dry-run=server`, async () => {
      const namespace = `chart-${set.name}`;
      ok(await cluster.kubectl(['create', 'namespace', namespace]), 'create namespace');
      const rendered = await helmTemplate(set.values(), namespace);
      const lint = await cluster.helm(['lint', chart, '-f', join(work, `values-${namespace}.json`)]);
      assert.equal(lint.code, 0, lint.stdout + lint.stderr);
      const applied = ok(
        await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: rendered }),
        `dry run of ${set.name}`,
      );
      for (const object of set.expect) {
        assert.match(
          applied,
          new RegExp(`^${object.replaceAll('.', '\\.')} created \\(server dry run\\)$`, 'm'),
        );
      }
      // Nothing persisted: the webhook configuration of a dry run never bites.
      const left = await cluster.kubectl(['get', 'deployments,secrets', '-n', namespace, '-o', 'name']);
      assert.equal(left.stdout.trim(), '');
    });
  }

  test("every value set's Deployment passes only flags portcullis serve accepts", async () => {
    for (const set of valueSets) {
      const rendered = docs(await helmTemplate(set.values(), `chart-${set.name}`));
      const deployment = rendered.find((d) => d.kind === 'Deployment') as unknown as {
        spec: {
          template: {
            spec: {
              containers: {
                args: string[];
                env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
              }[];
            };
          };
        };
      };
      const container = deployment.spec.template.spec.containers[0];
      const [command, ...args] = container?.args ?? [];
      assert.equal(command, 'serve');
      // The Pod identity --watch-policies needs comes from the downward API.
      const env = Object.fromEntries(
        (container?.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]),
      );
      assert.deepEqual([env.POD_NAME, env.POD_NAMESPACE], ['metadata.name', 'metadata.namespace']);
      assert.doesNotThrow(
        () => resolveServeSettings(args, { POD_NAME: 'portcullis-0', POD_NAMESPACE: 'portcullis' }),
        `${set.name}: ${args.join(' ')}`,
      );
    }
  });

  test('registriesConfD drop-ins are mounted where the webhook and the mirror job read them', async () => {
    const dropIn = '[aliases]\n"app" = "quay.io/team/app"\n';
    const rendered = docs(
      await helmTemplate(
        {
          registriesConfD: { '50-aliases.conf': dropIn },
          mirror: { enabled: true, destination: 'registry.internal.example/mirror', images: 'a: {}\n' },
        },
        'chart-dropins',
      ),
    );
    const config = rendered.find(
      (d) => d.kind === 'ConfigMap' && d.metadata.name.endsWith('-registries-conf-d'),
    );
    assert.deepEqual(config?.data, { '50-aliases.conf': dropIn });
    type PodSpec = {
      containers: { volumeMounts: { name: string; mountPath: string }[] }[];
      volumes: { name: string; configMap?: { name: string } }[];
    };
    const deployment = rendered.find((d) => d.kind === 'Deployment') as unknown as {
      spec: { template: { spec: PodSpec } };
    };
    const cronJob = rendered.find((d) => d.kind === 'CronJob') as unknown as {
      spec: { jobTemplate: { spec: { template: { spec: PodSpec } } } };
    };
    for (const pod of [deployment.spec.template.spec, cronJob.spec.jobTemplate.spec.template.spec]) {
      const mount = pod.containers[0]!.volumeMounts.find(
        (m) => m.mountPath === '/etc/containers/registries.conf.d',
      );
      const volume = pod.volumes.find((v) => v.name === mount?.name);
      assert.equal(volume?.configMap?.name, config?.metadata.name);
    }
  });

  test('url mode points the webhooks at the URL with its path and the given CA bundle', async () => {
    const rendered = docs(
      await helmTemplate(
        {
          webhook: { url: 'https://127.0.0.1:9443/', mutating: { enabled: true } },
          certificates: { mode: 'existingSecret', existingSecret: { name: 'host-tls', caBundle } },
        },
        'chart-url-paths',
      ),
    );
    const configs = rendered.filter((d) => d.kind.endsWith('WebhookConfiguration'));
    assert.deepEqual(Object.fromEntries(configs.map((d) => [d.kind, d.webhooks?.[0]?.clientConfig])), {
      ValidatingWebhookConfiguration: { url: 'https://127.0.0.1:9443/validate', caBundle },
      MutatingWebhookConfiguration: { url: 'https://127.0.0.1:9443/mutate', caBundle },
    });
  });

  test("generated mode: the Secret's ca.crt is every webhook's caBundle and signs a serving cert for the Service", async () => {
    const rendered = docs(
      await helmTemplate({ webhook: { mutating: { enabled: true } } }, 'chart-generated'),
    );
    const secret = rendered.find((d) => d.kind === 'Secret' && d.metadata.name === 'portcullis-tls');
    const ca = secret?.data?.['ca.crt'];
    const cert = secret?.data?.['tls.crt'];
    assert.ok(ca !== undefined && cert !== undefined, 'generated Secret with ca.crt and tls.crt');
    const bundles = rendered
      .filter((d) => d.kind.endsWith('WebhookConfiguration'))
      .flatMap((d) => (d.webhooks ?? []).map((w) => w.clientConfig.caBundle));
    assert.deepEqual(bundles, [ca, ca]);
    const caCert = new X509Certificate(Buffer.from(ca, 'base64'));
    const serving = new X509Certificate(Buffer.from(cert, 'base64'));
    assert.ok(serving.verify(caCert.publicKey), 'tls.crt is signed by ca.crt');
    assert.match(serving.subjectAltName ?? '', /DNS:portcullis\.chart-generated\.svc\b/);
  });

  test('self-managed mode: no caBundle, no mounted Secret, and RBAC for its own Secret and webhook configurations by name only', async () => {
    const rendered = docs(
      await helmTemplate(
        { certificates: { mode: 'selfManaged' }, webhook: { mutating: { enabled: true } } },
        'chart-self-managed-rbac',
      ),
    );
    const bundles = rendered
      .filter((d) => d.kind.endsWith('WebhookConfiguration'))
      .flatMap((d) => (d.webhooks ?? []).map((w) => w.clientConfig.caBundle));
    assert.deepEqual(bundles, [undefined, undefined]);
    const secret = rendered.find((d) => d.kind === 'Secret');
    assert.deepEqual([secret?.metadata.name, secret?.data], ['portcullis-certs', undefined]);
    type Rule = { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] };
    const rules = (kind: string, name: string) =>
      (rendered.find((d) => d.kind === kind && d.metadata.name === name) as unknown as { rules: Rule[] })
        .rules;
    assert.deepEqual(rules('Role', 'portcullis-certs'), [
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['portcullis-certs'],
        verbs: ['get', 'list', 'watch', 'update'],
      },
    ]);
    assert.deepEqual(rules('ClusterRole', 'portcullis-webhook-ca'), [
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'],
        resourceNames: ['portcullis'],
        verbs: ['get', 'patch'],
      },
    ]);
    const pod = (
      rendered.find((d) => d.kind === 'Deployment') as unknown as {
        spec: { template: { spec: { volumes: { name: string }[]; containers: { args: string[] }[] } } };
      }
    ).spec.template.spec;
    assert.ok(!pod.volumes.some((v) => v.name === 'tls'), 'no certificate volume');
    assert.deepEqual(
      pod.containers[0]?.args.filter((a) => /^--(tls-|webhook-configuration)/.test(a)),
      [
        '--tls-secret=portcullis-certs',
        '--tls-hosts=portcullis,portcullis.chart-self-managed-rbac,portcullis.chart-self-managed-rbac.svc,portcullis.chart-self-managed-rbac.svc.cluster.local',
        '--webhook-configuration=portcullis',
        '--tls-ca-validity=8760h',
        '--tls-cert-validity=2160h',
        '--tls-bundle-delay=1m',
      ],
    );
  });

  test('availability: surge before removal, a drain longer than endpoint propagation, one eviction at a time, zone spread', async () => {
    const rendered = docs(await helmTemplate({}, 'chart-availability'));
    const deployment = rendered.find((d) => d.kind === 'Deployment') as unknown as {
      spec: {
        minReadySeconds: number;
        strategy: unknown;
        template: {
          spec: {
            terminationGracePeriodSeconds: number;
            topologySpreadConstraints: unknown[];
            containers: { args: string[]; readinessProbe: { periodSeconds: number } }[];
          };
        };
      };
    };
    const { spec } = deployment;
    assert.deepEqual(spec.strategy, {
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
    });
    assert.equal(spec.minReadySeconds, 5);
    const pod = spec.template.spec;
    const args = pod.containers[0]?.args ?? [];
    assert.ok(args.includes('--shutdown-delay=10s'), args.join(' '));
    // Past the 90 s after which the API server's client closes an idle connection.
    assert.ok(args.includes('--drain-timeout=95s'), args.join(' '));
    // The grace period covers the delay (10 s), the drain (95 s) and a review answered at its deadline (9 s).
    assert.ok(pod.terminationGracePeriodSeconds > 10 + 95 + 9, String(pod.terminationGracePeriodSeconds));
    assert.equal(pod.containers[0]?.readinessProbe.periodSeconds, 2);
    assert.deepEqual(pod.topologySpreadConstraints, [
      {
        labelSelector: {
          matchLabels: { 'app.kubernetes.io/instance': 'portcullis', 'app.kubernetes.io/name': 'portcullis' },
        },
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'ScheduleAnyway',
      },
    ]);
    const pdb = rendered.find((d) => d.kind === 'PodDisruptionBudget') as unknown as {
      spec: Record<string, unknown>;
    };
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.equal(pdb.spec.minAvailable, undefined);
    // The webhook never judges its own namespace, so its pods come back with every replica gone.
    const webhook = rendered.find((d) => d.kind === 'ValidatingWebhookConfiguration') as unknown as {
      webhooks: {
        namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
      }[];
    };
    assert.deepEqual(webhook.webhooks[0]?.namespaceSelector.matchExpressions[0], {
      key: 'kubernetes.io/metadata.name',
      operator: 'NotIn',
      values: ['kube-system', 'chart-availability'],
    });
  });

  test('manifests/portcullis.yaml is accepted by kubectl apply --dry-run=server', async () => {
    const manifests = await readFile(join(repoRoot, 'manifests', 'portcullis.yaml'), 'utf8');
    // The Namespace is not created by a dry run, so the namespaced objects go to an existing one.
    ok(await cluster.kubectl(['create', 'namespace', 'portcullis']), 'create namespace');
    const applied = ok(
      await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: manifests }),
      'dry run of the manifests',
    );
    assert.match(applied, /^deployment\.apps\/portcullis created \(server dry run\)$/m);
    assert.match(applied, /^secret\/portcullis-certs created \(server dry run\)$/m);
    assert.doesNotMatch(applied, /cert-manager/);
    ok(await cluster.kubectl(['delete', 'namespace', 'portcullis', '--wait=false']), 'delete namespace');
  });

  describe('a release installed with the webhook pointed at the host process', () => {
    let registry: SignedRegistry;
    let portcullis: Portcullis;
    const release = 'guard';
    const releaseNs = 'portcullis-system';
    const appNs = 'apps';
    let h: string;

    before(async () => {
      registry = await startSignedRegistry();
      h = registry.host;
      await Promise.all([registry.push('team/app:v1', 'gpg'), registry.push('team/unsigned:v1', 'none')]);
      const policy = await registry.writeFile(
        'policy.json',
        JSON.stringify({
          default: [{ type: 'reject' }],
          transports: {
            docker: {
              [`${h}/team`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: registry.gpgKeyPath }],
            },
          },
        }),
      );
      portcullis = await startPortcullis(cluster, registry.work, [
        `--policy=${policy}`,
        `--registries.d=${registry.registriesD}`,
        `--registries-conf=${registry.registriesConf}`,
        '--timeout=5',
      ]);
      for (const ns of [releaseNs, appNs]) ok(await cluster.kubectl(['create', 'namespace', ns]), ns);
      // The Secret the in-cluster pods would mount; no pod runs here, the host process serves instead.
      const serving = await cluster.issueServingCert('guard-portcullis', [
        `${release}-portcullis.${releaseNs}.svc`,
      ]);
      ok(
        await cluster.kubectl([
          'create',
          'secret',
          'tls',
          'guard-tls',
          '-n',
          releaseNs,
          `--cert=${serving.certPath}`,
          `--key=${serving.keyPath}`,
        ]),
        'create the TLS Secret',
      );
    });

    after(async () => {
      await portcullis?.stop();
      await registry?.stop();
    });

    test('helm install with webhook.url and existingSecret denies an unsigned pod and admits a signed one', async () => {
      const installed = await cluster.helm([
        'install',
        release,
        chart,
        '--namespace',
        releaseNs,
        '--set',
        `webhook.url=${portcullis.url}`,
        '--set',
        'webhook.timeoutSeconds=8',
        '--set',
        'certificates.mode=existingSecret',
        '--set',
        'certificates.existingSecret.name=guard-tls',
        '--set',
        `certificates.existingSecret.caBundle=${caBundle}`,
      ]);
      assert.equal(installed.code, 0, installed.stderr);
      const denied = await eventually('the chart webhook denies', async () => {
        const result = await cluster.kubectl(['apply', '-f', '-'], {
          input: podJson('unsigned', appNs, [`${h}/team/unsigned:v1`]),
        });
        return result.code !== 0 && result.stderr.includes('admission webhook "validate.portcullis.dev"')
          ? result
          : undefined;
      });
      assert.match(
        denied.stderr,
        new RegExp(
          `denied the request: image "${h}/team/unsigned:v1" at spec\\.containers\\[0\\]\\.image is not trusted: A signature was required, but no signature exists`,
        ),
      );
      const signed = await cluster.kubectl(['apply', '-f', '-'], {
        input: podJson('signed', appNs, [`${h}/team/app:v1`]),
      });
      assert.equal(signed.code, 0, signed.stderr);
      // The release namespace is excluded: the webhook never judges Portcullis' own pods.
      const own = await cluster.kubectl(['apply', '-f', '-'], {
        input: podJson('own', releaseNs, [`${h}/team/unsigned:v1`]),
      });
      assert.equal(own.code, 0, own.stderr);
    });

    test("the chart's RBAC is enough for serve --watch-policies as the release's ServiceAccount", async () => {
      const kubeconfig = await cluster.serviceAccountKubeconfig(
        releaseNs,
        `${release}-portcullis`,
        join(work, 'service-account.kubeconfig'),
      );
      const forbidden = await cluster.kubectl([
        `--kubeconfig=${kubeconfig}`,
        'get',
        'deployments',
        '-n',
        appNs,
      ]);
      assert.match(forbidden.stderr, /forbidden/, 'the token carries the ServiceAccount, not the admin');
      // Ready means every informer listed and watched and the Lease was taken: a missing rule
      // would leave it unready (startPortcullis fails after 30 s with the log).
      const watcher = await startPortcullis(
        cluster,
        registry.work,
        // The release's own flags: with verification of the running pods, and its reports.
        ['--watch-policies', '--verify-running', `--kubeconfig=${kubeconfig}`],
        { POD_NAMESPACE: releaseNs, POD_NAME: 'guard-0' },
      );
      try {
        const holder = await eventually('the Lease is held', async () => {
          const lease = await cluster.kubectl([
            'get',
            'lease',
            'portcullis-controller',
            '-n',
            releaseNs,
            '-o',
            'jsonpath={.spec.holderIdentity}',
          ]);
          return lease.code === 0 && lease.stdout !== '' ? lease.stdout : undefined;
        });
        assert.equal(holder, 'guard-0');
        // The chart installed the PolicyReport CRD, and the running pods' results are written to it.
        await eventually('a PolicyReport of the running pods', async () => {
          const reports = await cluster.kubectl(['get', 'policyreports', '-n', appNs, '-o', 'name']);
          return reports.code === 0 && reports.stdout.includes('portcullis-images') ? true : undefined;
        });
        assert.doesNotMatch(watcher.log(), /forbidden/i);
      } finally {
        await watcher.stop();
      }
    });

    test('the release has the pre-delete hook that removes the webhook configurations', async () => {
      const hooks = docs(
        ok(await cluster.helm(['get', 'hooks', release, '-n', releaseNs]), 'helm get hooks'),
      );
      const job = hooks.find((d) => d.kind === 'Job');
      assert.equal(job?.metadata.annotations?.['helm.sh/hook'], 'pre-delete');
      const args = (job as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } })
        .spec.template.spec.containers[0]?.args;
      assert.deepEqual(args, [
        'delete',
        'validatingwebhookconfiguration,mutatingwebhookconfiguration',
        'guard-portcullis',
        '--ignore-not-found',
      ]);
    });

    // Without a kubelet the hook Job never runs, and `helm uninstall` would wait for it until its
    // timeout: uninstall skips hooks and runs the step the hook automates (charts/portcullis/README.md).
    test('helm uninstall --no-hooks and the documented manual step leave no webhook configuration', async () => {
      ok(await cluster.helm(['uninstall', release, '-n', releaseNs, '--no-hooks']), 'helm uninstall');
      ok(
        await cluster.kubectl([
          'delete',
          'validatingwebhookconfiguration,mutatingwebhookconfiguration',
          `${release}-portcullis`,
          '--ignore-not-found',
        ]),
        'manual step',
      );
      const left = await cluster.kubectl([
        'get',
        'validatingwebhookconfigurations,mutatingwebhookconfigurations',
        '-o',
        'name',
      ]);
      assert.equal(left.code, 0, left.stderr);
      assert.equal(left.stdout.trim(), '');
      await eventually('the webhook no longer bites', async () => {
        const result = await cluster.kubectl(['apply', '-f', '-'], {
          input: podJson('after-uninstall', appNs, [`${h}/team/unsigned:v1`]),
        });
        return result.code === 0 ? result : undefined;
      });
    });
  });
});
