// Starts a cluster with a node and keeps it until stdin closes or a signal arrives; prints the path
// of its cluster.json (kubeconfig, registry, node address) on stdout. For poking at a cluster by
// hand (`kubectl --kubeconfig <dir>/admin.kubeconfig`) and for the test that kills its owner.
// usage: node e2e/tools/node-cluster.ts
import { startNodeCluster } from '../node.ts';

const cluster = await startNodeCluster();
process.stdout.write(`${cluster.dir}/cluster.json\n`);
const stop = async () => {
  await cluster.stop();
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.resume();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
