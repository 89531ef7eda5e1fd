// The cluster with a node that the in-cluster test files share: `npm run e2e` starts one per run
// (setup.ts, the test runner's global setup) and names its cluster.json in
// PORTCULLIS_E2E_NODE_CLUSTER; a file run on its own starts a cluster of its own.
import { buildPortcullisImage, type PortcullisImage, pushBuiltImage } from '../images.ts';
import { attachNodeCluster, type NodeCluster, startNodeCluster } from '../node.ts';

export const SHARED_CLUSTER_ENV = 'PORTCULLIS_E2E_NODE_CLUSTER';
export const PORTCULLIS_IMAGE_ENV = 'PORTCULLIS_E2E_IMAGE';

/**
 * The shared cluster, or one of this file's own. The caller stops it in its describe's `after`
 * (stop() of a shared cluster stops only the servers this file started in it).
 */
export async function nodeCluster(): Promise<NodeCluster> {
  const shared = process.env[SHARED_CLUSTER_ENV];
  return shared === undefined ? startNodeCluster() : attachNodeCluster(shared);
}

export interface BuiltImage extends PortcullisImage {
  /** `registry/portcullis@sha256:...` in the cluster's registry. */
  readonly reference: string;
}

/** The Portcullis image in the cluster's registry: the suite's, or built now from the Dockerfile. */
export async function portcullisImage(cluster: NodeCluster): Promise<BuiltImage> {
  const built = process.env[PORTCULLIS_IMAGE_ENV];
  if (built !== undefined) return JSON.parse(built) as BuiltImage;
  const image = await buildPortcullisImage();
  const reference = await pushBuiltImage(image.image, `${cluster.registry}/portcullis:e2e`);
  return { ...image, reference };
}
