// Scale benchmark of `serve --verify-running` with the real components: a kube-apiserver (the e2e
// harness: no kubelet, pods stay Pending), 10,000 Pods created through it (7 namespaces of 100
// Deployments x 10 pods, owned through ReplicaSets, and 3,000 bare pods in one namespace, whose
// report must be split), 300 distinct cosign-signed images on a loopback registry, and a
// policy.json requiring their signatures. Measured:
//   - the serve process's RSS with the pod watch running (goal under 250 MiB): its peak through
//     the scans, 5 s and 30 s after them, and the same process without --verify-running; run as
//     the image runs it (`image`: the bundle `npm run build` writes, with the Dockerfile's
//     NODE_OPTIONS) and from this checkout's src/ without Node options (`source`);
//   - the first scan, cold: registry requests per distinct image (goal: the tag resolution plus
//     the signature lookup);
//   - a full re-verification after a policy change, cold (new policy hash: nothing cached) and
//     warm (back to a policy whose verdicts are cached) (goal under 5 s);
//   - API-server writes (report applies, deletes, Events) per scan.
//
//   node_modules/.bin/node test/bench/running.bench.ts [--pods-per-deployment N] [--bare N]
//     [--deployments N] [--namespaces N] [--images N] [--runs image,source]
//     [--node-options OPTIONS]   the image run's NODE_OPTIONS instead of the Dockerfile's
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCluster } from '../../e2e/harness.ts';
import { ok, repoRoot, startPortcullis, startSignedRegistry } from '../../e2e/product/fixtures.ts';
import { KubeRest, loadKubeConfig } from '../../src/kube/index.ts';
import { httpsRequest } from '../helpers/https.ts';
import { publishedCli } from '../helpers/published.ts';

const { values } = parseArgs({
  options: {
    'pods-per-deployment': { type: 'string', default: '10' },
    deployments: { type: 'string', default: '100' },
    namespaces: { type: 'string', default: '7' },
    bare: { type: 'string', default: '3000' },
    images: { type: 'string', default: '300' },
    runs: { type: 'string', default: 'image,source' },
    'node-options': { type: 'string' },
  },
});
const PODS_PER_DEPLOYMENT = Number(values['pods-per-deployment']);
const DEPLOYMENTS = Number(values.deployments);
const NAMESPACES = Number(values.namespaces);
const BARE = Number(values.bare);
const IMAGES = Number(values.images);
const RUNS = values.runs.split(',');
for (const run of RUNS) if (run !== 'image' && run !== 'source') throw new Error(`unknown run ${run}`);
/** The Node options the image sets (the Dockerfile's ENV NODE_OPTIONS). */
const IMAGE_NODE_OPTIONS =
  values['node-options'] ??
  /^ENV NODE_OPTIONS="?([^"\n]+)"?$/m.exec(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'))?.[1] ??
  '';

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

function parseMetrics(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of body.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

const sum = (metrics: Map<string, number>, prefix: string) =>
  [...metrics].filter(([k]) => k === prefix || k.startsWith(`${prefix}{`)).reduce((n, [, v]) => n + v, 0);

function rssMiB(pid: number | undefined): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0);
  const mib = (field: string) => Math.round(kb(field) / 102.4) / 10;
  return { rss: mib('VmRSS'), peak: mib('VmHWM') };
}

const started = performance.now();
const log = (message: string) =>
  process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${message}\n`);

const packageDir = await mkdtemp(join(tmpdir(), 'portcullis-bench-package-'));
const [cluster, registry, bundled] = await Promise.all([
  startCluster(),
  startSignedRegistry(),
  publishedCli(packageDir),
]);
try {
  const h = registry.host;
  const images = Array.from({ length: IMAGES }, (_, i) => `${h}/bench/img${i}:v1`);
  await pool(
    images.map((_, i) => i),
    6,
    (i) => registry.push(`bench/img${i}:v1`, 'cosign'),
  );
  log(`${IMAGES} cosign-signed images pushed`);

  const chart = join(repoRoot, 'charts', 'portcullis');
  ok(await cluster.kubectl(['apply', '-f', join(chart, 'crds')]), 'CRDs');
  ok(
    await cluster.kubectl(['apply', '-f', join(chart, 'report-crds', 'policyreports.wgpolicyk8s.io.yaml')]),
    'CRD',
  );
  ok(await cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']), 'CRDs');
  const rest = new KubeRest(loadKubeConfig(cluster.kubeconfig));
  const namespaces = [...Array.from({ length: NAMESPACES }, (_, i) => `team-${i}`), 'bare'];
  for (const ns of [...namespaces, 'portcullis-system'])
    ok(await cluster.kubectl(['create', 'namespace', ns]), ns);
  const post = (path: string, body: object) =>
    rest.request('POST', path, { body }) as Promise<{ metadata: { uid: string } }>;
  const container = (i: number) => [{ name: 'app', image: images[i % IMAGES] }];
  const deployments = namespaces
    .slice(0, NAMESPACES)
    .flatMap((ns) => Array.from({ length: DEPLOYMENTS }, (_, d) => ({ ns, d })));
  let podCount = 0;
  await pool(deployments, 16, async ({ ns, d }) => {
    const name = `app-${d}`;
    const labels = { app: name };
    const spec = { containers: container(d + namespaces.indexOf(ns) * DEPLOYMENTS) };
    const template = { metadata: { labels }, spec };
    const deployment = await post(`/apis/apps/v1/namespaces/${ns}/deployments`, {
      metadata: { name },
      spec: { replicas: PODS_PER_DEPLOYMENT, selector: { matchLabels: labels }, template },
    });
    const owner = (kind: string, apiVersion: string, n: string, uid: string) => [
      { apiVersion, kind, name: n, uid, controller: true },
    ];
    const rs = await post(`/apis/apps/v1/namespaces/${ns}/replicasets`, {
      metadata: {
        name: `${name}-7f9`,
        labels,
        ownerReferences: owner('Deployment', 'apps/v1', name, deployment.metadata.uid),
      },
      spec: { replicas: PODS_PER_DEPLOYMENT, selector: { matchLabels: labels }, template },
    });
    for (let p = 0; p < PODS_PER_DEPLOYMENT; p++) {
      await post(`/api/v1/namespaces/${ns}/pods`, {
        metadata: {
          name: `${name}-7f9-${p}`,
          labels,
          ownerReferences: owner('ReplicaSet', 'apps/v1', `${name}-7f9`, rs.metadata.uid),
        },
        spec,
      });
      podCount++;
    }
  });
  await pool(
    Array.from({ length: BARE }, (_, i) => i),
    16,
    async (i) => {
      await post('/api/v1/namespaces/bare/pods', {
        metadata: { name: `bare-${i}` },
        spec: { containers: container(i) },
      });
      podCount++;
    },
  );
  log(`${podCount} pods created through the API server (${deployments.length} Deployments with ReplicaSets)`);

  const policy = (scope: string) =>
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: { docker: { [scope]: [{ type: 'sigstoreSigned', keyPath: registry.cosignKeyPath }] } },
    });
  const policyPath = await registry.writeFile('policy.json', policy(`${h}/bench`));
  for (const run of RUNS) {
    const image = run === 'image';
    const serve = (...extra: string[]) =>
      startPortcullis(
        cluster,
        registry.work,
        [
          `--policy=${policyPath}`,
          '--watch-policies',
          `--kubeconfig=${cluster.kubeconfig}`,
          `--registries.d=${registry.registriesD}`,
          `--registries-conf=${registry.registriesConf}`,
          ...extra,
        ],
        {
          POD_NAMESPACE: 'portcullis-system',
          POD_NAME: 'portcullis-bench-0',
          NODE_OPTIONS: image ? IMAGE_NODE_OPTIONS : '',
        },
        image ? { cli: bundled } : {},
      );
    log(
      `run ${run}: ${image ? `the bundle, NODE_OPTIONS=${JSON.stringify(IMAGE_NODE_OPTIONS)}` : 'src/, no Node options'}`,
    );
    // Every run starts from no reports, so its first scan writes them all.
    ok(await cluster.kubectl(['delete', 'policyreports', '-A', '--all'], { timeoutMs: 120_000 }), 'reports');
    // The same process without the pod watch, for comparison.
    const baseline = await serve();
    await new Promise((r) => setTimeout(r, 5000));
    log(`${run}: RSS without --verify-running, idle: ${JSON.stringify(rssMiB(baseline.pid))} MiB`);
    await baseline.stop();
    const portcullis = await serve('--verify-running', '--verify-interval=1h');
    const metrics = async () =>
      parseMetrics((await httpsRequest(`${portcullis.url}/metrics`, { ca: cluster.caPem })).body);
    const scans = (m: Map<string, number>) => sum(m, 'portcullis_background_scans_total');

    /** Waits for the next scan to end; returns its figures from the metrics. */
    const nextScan = async (before: Map<string, number>, what: string) => {
      const t0 = performance.now();
      for (;;) {
        const now = await metrics();
        if (scans(now) > scans(before)) {
          const d = (name: string) => sum(now, name) - sum(before, name);
          const verified =
            (now.get('portcullis_background_verifications_total{outcome="verified"}') ?? 0) -
            (before.get('portcullis_background_verifications_total{outcome="verified"}') ?? 0);
          const figures = {
            scan: what,
            scanSeconds: Number(d('portcullis_background_scan_duration_seconds_sum').toFixed(2)),
            waitedSeconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
            verifiedDistinct: verified,
            registryRequests: d('portcullis_registry_requests_total'),
            registryRequestsPerVerifiedImage:
              verified === 0 ? 0 : Number((d('portcullis_registry_requests_total') / verified).toFixed(2)),
            reportApplies: d('portcullis_report_writes_total{operation="apply"}'),
            reportDeletes: d('portcullis_report_writes_total{operation="delete"}'),
            events: d('portcullis_report_writes_total{operation="event"}'),
            running: {
              pass: now.get('portcullis_running_images{result="pass"}'),
              fail: now.get('portcullis_running_images{result="fail"}'),
              error: now.get('portcullis_running_images{result="error"}'),
            },
            ...rssMiB(portcullis.pid),
          };
          log(JSON.stringify(figures));
          return now;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    const zero = new Map<string, number>();
    let m = await nextScan(zero, 'first scan (start, cold)');
    const reports = JSON.parse(
      ok(
        await cluster.kubectl(['get', 'policyreports', '-A', '-o', 'json'], { timeoutMs: 120_000 }),
        'reports',
      ),
    ) as {
      items: { metadata: { namespace: string; name: string }; results?: unknown[] }[];
    };
    log(
      `reports: ${reports.items.map((r) => `${r.metadata.namespace}/${r.metadata.name} (${r.results?.length ?? 0} results, ${JSON.stringify(r.results ?? []).length} bytes)`).join(', ')}`,
    );
    await registry.writeFile('policy.json', policy(h));
    m = await nextScan(m, 'policy change (new policy hash: cold)');
    await registry.writeFile('policy.json', policy(`${h}/bench`));
    m = await nextScan(m, 'policy change back (its verdicts cached: warm)');
    for (const [after, wait] of [
      [5, 5000],
      [30, 25_000],
    ] as const) {
      await new Promise((r) => setTimeout(r, wait));
      log(
        `${run}: RSS ${after} s after the scans: ${JSON.stringify(rssMiB(portcullis.pid))} MiB; pods watched: ${podCount}`,
      );
    }
    await portcullis.stop();
  }
} finally {
  await cluster.stop();
  await registry.stop();
  await rm(packageDir, { recursive: true, force: true });
}
log(
  `load average at the end: ${(await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
