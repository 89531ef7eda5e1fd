// Global setup of the in-cluster test files (node --test --test-global-setup): one cluster with a
// node and one Portcullis image built from the Dockerfile for the whole run, which keeps a run of
// every in-cluster scenario inside CI's budget. The files attach to it (cluster.ts).
import { type NodeCluster, startNodeCluster } from '../node.ts';
import { PORTCULLIS_IMAGE_ENV, portcullisImage, SHARED_CLUSTER_ENV } from './cluster.ts';

let cluster: NodeCluster | undefined;

export async function globalSetup(): Promise<void> {
  const started = Date.now();
  cluster = await startNodeCluster();
  const clusterSeconds = (Date.now() - started) / 1000;
  const image = await portcullisImage(cluster);
  process.env[SHARED_CLUSTER_ENV] = `${cluster.dir}/cluster.json`;
  process.env[PORTCULLIS_IMAGE_ENV] = JSON.stringify(image);
  process.stderr.write(
    `e2e: cluster with a node ready in ${clusterSeconds.toFixed(1)} s (${cluster.dir}); ` +
      `image ${image.reference} built in ${image.buildSeconds} s, ${image.size}\n`,
  );
}

export async function globalTeardown(): Promise<void> {
  await cluster?.stop();
}
