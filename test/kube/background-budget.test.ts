// Background verification and a registry budget, on the real registry: a scan of more running
// images than the budget holds leaves the admissions' reserve, puts the rest off (skip, logged
// once), and a new image is still admitted afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CACHE_LIMITS } from '../../src/cache/index.ts';
import { DockerTransport, RegistrySession } from '../../src/image/transports/docker/index.ts';
import { BackgroundVerifier, DEFAULT_BACKGROUND } from '../../src/kube/background.ts';
import { DEFAULT_INFORMER_OPTIONS } from '../../src/kube/informer.ts';
import type { Rest } from '../../src/kube/rest.ts';
import type { RunningResult } from '../../src/policy/index.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import {
  realComponents,
  type SignedRegistry,
  serverConfig,
  signedRegistry,
  webhookClient,
} from '../webhook/real-server.ts';
import { podSpec, review, workload } from '../webhook/rig.ts';

const RUNNING = 6;
const BUDGET = { pulls: 5, periodMs: 3_600_000, reserve: 2 };

/** An API server listing `pods` (and no ReplicaSets or Jobs), whose watches wait until stopped. */
function podsApi(pods: readonly unknown[]): Rest {
  return {
    request: async (_method, path) => ({
      metadata: { resourceVersion: '1' },
      items: path === '/api/v1/pods' ? pods : [],
    }),
    watch: (_path, _query, _accept, _onEvent, signal) =>
      new Promise((resolve) => signal.addEventListener('abort', () => resolve())),
  };
}

const runningPod = (i: number, image: string) => ({
  metadata: { name: `app-${i}`, namespace: 'apps', uid: `uid-${i}` },
  spec: { containers: [{ name: 'app', image }] },
  status: { phase: 'Running' },
});

describe('background verification under a registry budget', () => {
  let fixture: SignedRegistry;
  let transport: DockerTransport;
  let server: RunningServer;

  before(async () => {
    fixture = await signedRegistry();
    for (let i = 0; i < RUNNING; i++) await fixture.push(`ns/running-${i}:v1`);
    await fixture.push('ns/new:v1');
    transport = new DockerTransport(
      fixture.env.environment,
      new RegistrySession({ budgets: new Map([[fixture.host, BUDGET]]) }),
    );
    server = await startServer(
      serverConfig(fixture.work, { deadlineMs: 3000, logLevel: 'silent', cache: DEFAULT_CACHE_LIMITS }),
      realComponents(fixture.work, transport),
    );
  });
  after(async () => {
    await server?.close();
    await transport?.close();
    await fixture?.stop();
  });

  it('leaves the reserve to admissions: the rest of the scan is skipped, and a new image is admitted', async () => {
    const h = fixture.host;
    let manifestReads = 0;
    fixture.proxy.set(({ method, path }) => {
      if (method === 'GET' && path.includes('/manifests/')) manifestReads++;
      return { kind: 'pass' };
    });
    const counts: Record<RunningResult, number>[] = [];
    const scans: { verified: number; skipped: number }[] = [];
    const infos: { fields: Record<string, unknown>; message: string }[] = [];
    const errors: unknown[] = [];
    const verifier = new BackgroundVerifier({
      ...DEFAULT_BACKGROUND,
      rest: podsApi(Array.from({ length: RUNNING }, (_, i) => runningPod(i, `${h}/ns/running-${i}:v1`))),
      policies: server.workloads,
      leader: { isLeader: true, onChange: () => {} },
      reports: [],
      informer: DEFAULT_INFORMER_OPTIONS,
      observer: {
        scan: (_trigger, _seconds, _distinct, verified, skipped) => scans.push({ verified, skipped }),
        reportWrites: () => {},
        runningImages: (c) => counts.push({ ...c }),
      },
      identity: 'replica-1',
      now: () => new Date(),
      onError: (err) => errors.push(err),
      onInfo: (fields, message) => infos.push({ fields, message }),
    });
    try {
      await verifier.start();
      const kept = BUDGET.pulls - BUDGET.reserve;
      assert.deepEqual(errors, []);
      assert.deepEqual(scans, [{ verified: kept, skipped: RUNNING - kept }]);
      assert.deepEqual(counts.at(-1), { pass: kept, fail: 0, error: 0, skip: RUNNING - kept });
      assert.equal(manifestReads, kept, 'background reads stop at the reserve');
      const putOff = infos.filter((i) => /reserve kept for admissions/.test(i.message));
      assert.equal(putOff.length, 1, 'logged once per scan');
      const { skipped, registries } = putOff[0]!.fields as {
        skipped: number;
        registries: { registry: string }[];
      };
      assert.equal(skipped, RUNNING - kept);
      assert.deepEqual(
        registries.map((r) => r.registry),
        [h],
      );

      const client = webhookClient(server, fixture.ca);
      const admitted = await client.post(
        '/validate',
        review('', 'Pod', workload('', 'Pod', podSpec([`${h}/ns/new:v1`]))),
      );
      assert.equal(admitted.allowed, true, JSON.stringify(admitted));
      assert.equal(manifestReads, kept + 1, 'the admission read its manifest');
    } finally {
      await verifier.stop();
      fixture.proxy.set({ kind: 'pass' });
    }
  });
});
