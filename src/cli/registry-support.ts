// Registry-specific helpers the CLI wires into copy and sync: tag listing, a HEAD probe of a
// destination (so sync skips images without pulling them), and closing keep-alive connections.
import type { Digest } from '../image/digest.ts';
import type { DockerReference, ImageReference, SystemContext } from '../image/index.ts';
import {
  clientFor,
  closeAllAgents,
  DockerImageReference,
  isManifestAbsent,
  processEnvironment,
  registriesConfFor,
  sharedRegistrySession,
} from '../image/transports/docker/index.ts';

export async function listRepositoryTags(
  repo: DockerReference,
  ctx: SystemContext,
  maxTags?: number,
): Promise<string[]> {
  const env = processEnvironment();
  const conf = await registriesConfFor(ctx, env);
  const client = await clientFor(ctx, repo, conf, false, env, sharedRegistrySession());
  return client.listTags(repo.path, maxTags === undefined ? {} : { maxTags });
}

/**
 * Tags of a repository about to be written to; [] when it does not exist yet. More than `maxTags`
 * fails (TOO_LARGE): the pages would cost more than the HEADs the listing saves.
 */
export async function listDestinationTags(
  repo: DockerReference,
  ctx: SystemContext,
  maxTags: number,
): Promise<string[]> {
  try {
    return await listRepositoryTags(repo, ctx, maxTags);
  } catch (err) {
    if (isManifestAbsent(err)) return [];
    throw err;
  }
}

/** The digest a registry holds for a docker reference, by HEAD; undefined for other transports. */
export async function probeRegistryDestination(
  ref: ImageReference,
  ctx: SystemContext,
): Promise<{ digest: Digest | undefined } | undefined> {
  if (!(ref instanceof DockerImageReference)) return undefined;
  const env = processEnvironment();
  const conf = await registriesConfFor(ctx, env);
  const client = await clientFor(ctx, ref.ref, conf, false, env, ref.transport.session);
  try {
    return { digest: await client.resolveDigest(ref.ref.path, ref.tagOrDigest()) };
  } catch (err) {
    if (isManifestAbsent(err)) return { digest: undefined };
    throw err;
  }
}

export { closeAllAgents };
