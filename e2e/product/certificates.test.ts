// Self-managed certificates (certificates.mode=selfManaged) against the real kube-apiserver: a
// release installed by helm with its webhook pointed at a loopback balancer in front of three
// `portcullis serve` replicas on the host, run with the chart's own certificate flags and the
// release's ServiceAccount token. The Lease holder fills the Secret and the caBundle, and rotates
// CA and serving certificate (validities of seconds here) while admissions keep flowing.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { startTcpBalancer, type TcpBalancer } from '../../test/helpers/tcp-balancer.ts';
import { type Cluster, eventually, startCluster } from '../harness.ts';
import { watchCertificates } from '../pki.ts';
import { ok, type Portcullis, podJson, repoRoot, startPortcullis } from './fixtures.ts';

const RELEASE = 'guard';
const NS = 'portcullis-system';
const APPS = 'apps';
const SECRET = `${RELEASE}-portcullis-certs`;
const POLICY = {
  default: [{ type: 'insecureAcceptAnything' }],
  transports: { docker: { 'blocked.example': [{ type: 'reject' }] } },
};
// Renewed at two thirds of their life: a serving certificate every 6 s, a CA every 16 s.
const SELF_MANAGED = { caValidity: '24s', certValidity: '9s', bundleDelay: '1500ms' };

interface Outcome {
  readonly status: number;
  readonly body: string;
}

/** The API server as the kubeconfig's admin: dry-run pod creations, each a call of the webhook. */
function apiClient(cluster: Cluster) {
  const kubeconfig = JSON.parse(readFileSync(cluster.kubeconfig, 'utf8')) as {
    users: { user: Record<string, string> }[];
  };
  const user = kubeconfig.users[0]?.user ?? {};
  const agent = new Agent({
    keepAlive: true,
    ca: cluster.caPem,
    cert: Buffer.from(user['client-certificate-data'] ?? '', 'base64'),
    key: Buffer.from(user['client-key-data'] ?? '', 'base64'),
  });
  const createPod = (name: string, image: string): Promise<Outcome> =>
    new Promise((resolve) => {
      const req = request(
        `${cluster.server}/api/v1/namespaces/${APPS}/pods?dryRun=All`,
        { method: 'POST', agent, headers: { 'content-type': 'application/json' }, timeout: 15_000 },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', (err) => resolve({ status: 0, body: err.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
      req.on('error', (err) => resolve({ status: 0, body: err.message }));
      req.end(podJson(name, APPS, [image]));
    });
  return { createPod, close: () => agent.destroy() };
}

/** Sends `perSecond` admissions for `ms`; resolves with every outcome that was not a 201. */
async function load(
  createPod: (name: string, image: string) => Promise<Outcome>,
  perSecond: number,
  ms: number,
): Promise<{ sent: number; failures: Outcome[] }> {
  const pending: Promise<Outcome>[] = [];
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end; i++) {
    pending.push(createPod(`load-${i}`, 'allowed.example/team/app:v1'));
    await new Promise((r) => setTimeout(r, 1000 / perSecond));
  }
  const outcomes = await Promise.all(pending);
  return { sent: outcomes.length, failures: outcomes.filter((o) => o.status !== 201) };
}

describe('self-managed certificates behind the real API server', () => {
  let cluster: Cluster;
  let balancer: TcpBalancer;
  let api: ReturnType<typeof apiClient>;
  const replicas: (Portcullis & { port: number })[] = [];

  const secretData = async (): Promise<Record<string, string>> => {
    const got = ok(
      await cluster.kubectl(['get', 'secret', SECRET, '-n', NS, '-o', 'json']),
      'get the Secret',
    );
    const data = (JSON.parse(got) as { data?: Record<string, string> }).data ?? {};
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  };
  const caBundles = async (): Promise<string[]> => {
    const got = ok(
      await cluster.kubectl([
        'get',
        'validatingwebhookconfiguration,mutatingwebhookconfiguration',
        `${RELEASE}-portcullis`,
        '-o',
        'jsonpath={range .items[*].webhooks[*]}{.clientConfig.caBundle}{"\\n"}{end}',
      ]),
      'get the caBundles',
    );
    return got.trim().split('\n');
  };

  before(async () => {
    [cluster, balancer] = await Promise.all([startCluster(), startTcpBalancer()]);
    api = apiClient(cluster);
    for (const ns of [NS, APPS]) ok(await cluster.kubectl(['create', 'namespace', ns]), ns);
    const values = join(cluster.dir, 'values.json');
    await writeFile(
      values,
      JSON.stringify({
        certificates: { mode: 'selfManaged', selfManaged: SELF_MANAGED },
        webhook: {
          url: `https://127.0.0.1:${balancer.port}/`,
          timeoutSeconds: 5,
          mutating: { enabled: true },
        },
        policy: { crds: false, json: JSON.stringify(POLICY) },
      }),
    );
    ok(
      await cluster.helm([
        'install',
        RELEASE,
        join(repoRoot, 'charts', 'portcullis'),
        '-n',
        NS,
        '-f',
        values,
      ]),
      'helm install',
    );
    // The replicas run with the Deployment's own certificate flags, as the release's ServiceAccount.
    const manifest = ok(await cluster.helm(['get', 'manifest', RELEASE, '-n', NS]), 'helm get manifest');
    const deployment = parseAllDocuments(manifest)
      .map(
        (d) =>
          d.toJS() as { kind?: string; spec?: { template: { spec: { containers: { args: string[] }[] } } } },
      )
      .find((d) => d?.kind === 'Deployment');
    const chartArgs = deployment?.spec?.template.spec.containers[0]?.args ?? [];
    const certificateArgs = chartArgs.filter((a) => /^--(tls-|webhook-configuration=)/.test(a));
    assert.ok(
      certificateArgs.some((a) => a === `--tls-secret=${SECRET}`),
      chartArgs.join(' '),
    );
    assert.ok(
      certificateArgs.some((a) => a.startsWith('--tls-hosts=') && a.endsWith(',127.0.0.1')),
      chartArgs.join(' '),
    );
    const kubeconfig = await cluster.serviceAccountKubeconfig(
      NS,
      `${RELEASE}-portcullis`,
      join(cluster.dir, 'sa.kubeconfig'),
    );
    const policy = join(cluster.dir, 'policy.json');
    await writeFile(policy, JSON.stringify(POLICY));
    replicas.push(
      ...(await Promise.all(
        [0, 1, 2].map((i) =>
          startPortcullis(
            cluster,
            cluster.dir,
            [...certificateArgs, `--policy=${policy}`, `--kubeconfig=${kubeconfig}`, '--log-level=info'],
            { POD_NAMESPACE: NS, POD_NAME: `${RELEASE}-portcullis-${i}` },
            { servingCert: false },
          ),
        ),
      )),
    );
    for (const r of replicas) balancer.add(r.port);
    await eventually(
      'the webhook denies through the balancer',
      async () => {
        const probe = await api.createPod('probe', 'blocked.example/x:1');
        // The mutating webhook (pin-digests) is called first and denies too.
        return probe.status === 403 &&
          /admission webhook \\"[a-z-]+\.portcullis\.dev\\" denied/.test(probe.body)
          ? probe
          : undefined;
      },
      30_000,
    );
  });

  after(async () => {
    api?.close();
    await cluster?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    await balancer?.stop();
  });

  test("the Lease holder filled the Secret and its own configurations' caBundle with the Secret's CAs", async () => {
    const data = await secretData();
    assert.deepEqual(Object.keys(data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const leaf = new X509Certificate(data['tls.crt'] as string);
    assert.match(
      leaf.subjectAltName ?? '',
      /DNS:guard-portcullis\.portcullis-system\.svc\b.*IP Address:127\.0\.0\.1/,
    );
    const bundles = await eventually('both caBundles equal ca.crt', async () => {
      const now = await caBundles();
      const current = Buffer.from((await secretData())['ca.crt'] ?? '').toString('base64');
      return now.length === 2 && now.every((b) => b === current) ? now : undefined;
    });
    assert.equal(bundles.length, 2, 'validating and mutating');
  });

  test('CA and serving certificate rotate under 20 admissions a second with none failed', async () => {
    const watch = watchCertificates(secretData);
    const result = await load(api.createPod, 20, 40_000).finally(() => watch.stop());
    const { cas, leafs } = await watch.stop();
    console.log(
      `# ${result.sent} admissions in 40 s, ${result.failures.length} failed; ${cas.size} CAs and ${leafs.size} serving certificates seen`,
    );
    assert.deepEqual(result.failures, []);
    assert.ok(result.sent >= 400, `${result.sent} admissions sent`);
    assert.ok(cas.size >= 3, `${cas.size} CAs: at least two CA rotations`);
    assert.ok(leafs.size >= 5, `${leafs.size} serving certificates`);
    const logs = replicas.map((r) => r.log()).join('');
    assert.match(logs, /a new CA joins ca\.crt/);
    assert.match(logs, /is re-signed by the new CA/);
  });

  test('the Lease holder stops: it hands the Lease over at once, rotation goes on, no admission fails', async () => {
    const holder = async () =>
      ok(
        await cluster.kubectl([
          'get',
          'lease',
          'portcullis-controller',
          '-n',
          NS,
          '-o',
          'jsonpath={.spec.holderIdentity}',
        ]),
        'get the Lease',
      );
    const leading = await holder();
    const index = replicas.findIndex((_, i) => leading === `${RELEASE}-portcullis-${i}`);
    const leaving = replicas[index];
    assert.ok(leaving !== undefined, `holder ${leading}`);
    const loading = load(api.createPod, 20, 15_000);
    await new Promise((r) => setTimeout(r, 1000));
    const before = (await secretData())['tls.crt'];
    const stopped = leaving.stop();
    const stoppedAt = Date.now();
    // The endpoint goes away a moment after SIGTERM, as kube-proxy learns of it.
    await new Promise((r) => setTimeout(r, 500));
    balancer.remove(leaving.port);
    await stopped;
    const next = await eventually('another holder', async () => {
      const now = await holder();
      return now !== '' && now !== leading ? now : undefined;
    });
    const handedOverMs = Date.now() - stoppedAt;
    console.log(`# Lease moved to ${next} ${handedOverMs} ms after SIGTERM`);
    // Released, the Lease is taken at the next try (every 2 s), not after its 15 s duration.
    assert.ok(handedOverMs < 10_000, `Lease moved to ${next} ${handedOverMs} ms after SIGTERM`);
    await eventually(
      'a serving certificate from the new holder',
      async () => ((await secretData())['tls.crt'] !== before ? true : undefined),
      15_000,
    );
    const result = await loading;
    assert.deepEqual(result.failures, []);
    replicas.splice(index, 1);
  });

  test('garbage written into the Secret is refused with its reason, repaired, and no admission fails', async () => {
    const garbage = Buffer.from('not a certificate').toString('base64');
    const loading = load(api.createPod, 20, 8_000);
    ok(
      await cluster.kubectl([
        'patch',
        'secret',
        SECRET,
        '-n',
        NS,
        '--type=merge',
        '-p',
        JSON.stringify({ data: { 'tls.crt': garbage } }),
      ]),
      'write garbage',
    );
    const result = await loading;
    assert.deepEqual(result.failures, []);
    const logs = replicas.map((r) => r.log()).join('');
    assert.match(
      logs,
      /tls certificate Secret refused, keeping the current certificate.*tls\.crt: no PEM certificate found|tls\.crt: no PEM certificate found.*tls certificate Secret refused/,
    );
    await eventually('repaired', async () => {
      const data = await secretData();
      return (data['tls.crt'] ?? '').startsWith('-----BEGIN CERTIFICATE-----') ? data : undefined;
    });
  });
});
