// Worker of background.test.ts: a verifier on a replica that does not hold the Lease, started and
// asked to scan. Posts 'settled' once start() and idle() resolved and a timer fired after them.
import { parentPort } from 'node:worker_threads';
import { BackgroundVerifier, DEFAULT_BACKGROUND } from '../../src/kube/background.ts';
import { DEFAULT_INFORMER_OPTIONS } from '../../src/kube/informer.ts';
import type { Rest } from '../../src/kube/rest.ts';
import type { WorkloadPolicies } from '../../src/policy/index.ts';

// Empty lists, and watches that wait until they are stopped.
const rest: Rest = {
  request: async () => ({ metadata: { resourceVersion: '1' }, items: [] }),
  watch: (_path, _query, _accept, _onEvent, signal) =>
    new Promise((resolve) => signal.addEventListener('abort', () => resolve())),
};
const verifier = new BackgroundVerifier({
  ...DEFAULT_BACKGROUND,
  rest,
  // Never consulted: only the Lease holder scans.
  policies: {} as WorkloadPolicies,
  leader: { isLeader: false, onChange: () => {} },
  reports: ['wgpolicyk8s'],
  informer: DEFAULT_INFORMER_OPTIONS,
  observer: { scan: () => {}, reportWrites: () => {}, runningImages: () => {} },
  identity: 'replica-1',
  now: () => new Date(),
  onError: () => {},
  onInfo: () => {},
});
await verifier.start();
verifier.policyChanged();
await verifier.idle();
await new Promise((resolve) => setTimeout(resolve, 10));
await verifier.stop();
parentPort?.postMessage('settled');
