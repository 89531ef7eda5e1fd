// The `docker` transport: `docker://<reference>` (optionally `@@unknown-digest@@` for name-only pushes).
import type { Digest } from '../../digest.ts';
import {
  type DockerReference,
  DockerReferenceError,
  type DockerTransportReference,
  dockerReferenceIdentity,
  dockerReferenceNamespaces,
  parseDockerTransportReference,
  UNKNOWN_DIGEST_SUFFIX,
} from '../../reference/index.ts';
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  ImageTransport,
  SystemContext,
} from '../../types.ts';
import { type Environment, processEnvironment } from './context.ts';
import { deleteDockerImage, openDockerDestination } from './destination.ts';
import { DockerError } from './errors.ts';
import { type RegistrySession, sharedRegistrySession } from './session.ts';
import { openDockerSource } from './source.ts';

export class DockerImageReference implements ImageReference {
  readonly transport: DockerTransport;
  readonly ref: DockerReference;
  /** Name-only reference for pushing without a tag; the digest is only known after writing. */
  readonly isUnknownDigest: boolean;

  constructor(transport: DockerTransport, ref: DockerReference, isUnknownDigest: boolean) {
    this.transport = transport;
    this.ref = ref;
    this.isUnknownDigest = isUnknownDigest;
  }

  stringWithinTransport(): string {
    // Upstream prints the familiar form (docker://busybox:latest); users search for these messages.
    return `//${this.ref.familiarString()}${this.isUnknownDigest ? UNKNOWN_DIGEST_SUFFIX : ''}`;
  }

  dockerReference(): DockerReference {
    return this.ref;
  }

  policyConfigurationIdentity(): string {
    return this.isUnknownDigest ? this.ref.name() : dockerReferenceIdentity(this.ref);
  }

  policyConfigurationNamespaces(): string[] {
    const namespaces = dockerReferenceNamespaces(this.ref);
    // For a name-only reference the repository itself is the identity, not a namespace.
    return this.isUnknownDigest && namespaces[0] === this.ref.name() ? namespaces.slice(1) : namespaces;
  }

  /** The tag or digest used in API paths. */
  tagOrDigest(): string {
    if (this.ref.digest !== undefined) return this.ref.digest;
    if (this.ref.tag !== undefined) return this.ref.tag;
    throw new DockerError(
      'REFERENCE_INVALID',
      `${this.stringWithinTransport()}: reference has neither tag nor digest`,
    );
  }

  digest(): Digest | undefined {
    return this.ref.digest;
  }

  newImageSource(ctx: SystemContext): Promise<ImageSource> {
    return openDockerSource(this, ctx, this.transport.environment);
  }

  newImageDestination(ctx: SystemContext): Promise<ImageDestination> {
    return openDockerDestination(this, ctx, this.transport.environment);
  }

  deleteImage(ctx: SystemContext): Promise<void> {
    return deleteDockerImage(this, ctx, this.transport.environment);
  }
}

export class DockerTransport implements ImageTransport {
  readonly name = 'docker';
  readonly environment: Environment;
  /** What its clients remember about registries; close() releases it. */
  readonly session: RegistrySession;

  /**
   * `environment` (variables, home, default lookaside) defaults to this process's, and `session`
   * to the one transports made without their own share.
   */
  constructor(environment: Environment = processEnvironment(), session = sharedRegistrySession()) {
    this.environment = environment;
    this.session = session;
  }

  /** Forgets what the session learnt and closes its connections (it can be used again). */
  close(): Promise<void> {
    return this.session.close();
  }

  parseReference(details: string): DockerImageReference {
    let parsed: DockerTransportReference;
    try {
      parsed = parseDockerTransportReference(details);
    } catch (err) {
      const detail = err instanceof DockerReferenceError ? err.message : String(err);
      throw new DockerError('REFERENCE_INVALID', `docker: ${detail}`, { cause: err });
    }
    return new DockerImageReference(this, parsed.ref, parsed.unknownDigest);
  }

  /** Builds a reference; plain name-only references get `:latest`. */
  newReference(ref: DockerReference, unknownDigest = false): DockerImageReference {
    if (unknownDigest) {
      if (!ref.isNameOnly()) {
        throw new DockerError(
          'REFERENCE_INVALID',
          `docker: ${ref.toString()} has a tag or digest, conflicting with ${UNKNOWN_DIGEST_SUFFIX}`,
        );
      }
      return new DockerImageReference(this, ref, true);
    }
    if (ref.tag !== undefined && ref.digest !== undefined) {
      throw new DockerError(
        'REFERENCE_INVALID',
        `docker: ${ref.toString()}: references with both a tag and digest are not supported`,
      );
    }
    return new DockerImageReference(this, ref.tagNameOnly(), false);
  }

  validatePolicyConfigurationScope(scope: string): void {
    // Upstream accepts any scope here; an empty one could never match and is surely a mistake.
    if (scope === '') throw new DockerError('REFERENCE_INVALID', 'docker: empty policy scope');
  }
}
