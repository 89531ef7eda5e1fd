// docker-only operations the CLI needs beyond ImageSource/ImageDestination: tags and login checks.
import { parseNormalizedNamed } from '../../reference/index.ts';
import { pushDestination } from '../../registries/registries-conf.ts';
import type { ImageReference, SystemContext } from '../../types.ts';
import { clientFor, registriesConfFor } from './context.ts';
import { DockerError } from './errors.ts';
import { DockerImageReference } from './transport.ts';

function asDocker(ref: ImageReference, what: string): DockerImageReference {
  if (!(ref instanceof DockerImageReference)) {
    throw new DockerError(
      'OPERATION_NOT_POSSIBLE',
      `${what}: only docker:// references are supported, got ${ref.transport.name}:`,
    );
  }
  return ref;
}

/** Every tag of the reference's repository (Link pagination followed, bounded). */
export async function listDockerTags(
  ref: ImageReference,
  ctx: SystemContext,
): Promise<{ repository: string; tags: string[] }> {
  const d = asDocker(ref, 'listing tags');
  const environment = d.transport.environment;
  const conf = await registriesConfFor(ctx, environment);
  const target = pushDestination(conf, d.ref);
  const { session } = d.transport;
  const client = await clientFor(ctx, target.reference, conf, target.insecure, environment, session);
  try {
    return { repository: d.ref.name(), tags: await client.listTags(target.reference.path) };
  } catch (err) {
    if (err instanceof DockerError) {
      throw new DockerError(err.code, `listing tags of ${d.ref.name()}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** Checks that the credentials of `ctx` are accepted by `registry` (host[:port]). */
export async function checkDockerLogin(
  transport: DockerImageReference['transport'],
  registry: string,
  ctx: SystemContext,
): Promise<void> {
  const environment = transport.environment;
  const conf = await registriesConfFor(ctx, environment);
  const probe = parseNormalizedNamed(`${registry}/portcullis-login-probe`);
  const target = pushDestination(conf, probe);
  const { session } = transport;
  const client = await clientFor(ctx, target.reference, conf, target.insecure, environment, session);
  try {
    await client.checkAuth();
  } catch (err) {
    if (err instanceof DockerError)
      throw new DockerError(err.code, `authenticating to ${registry}: ${err.message}`, { cause: err });
    throw err;
  }
}
