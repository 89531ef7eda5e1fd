// The default set of transports: the only module that imports concrete transports. Each is
// imported on demand, so a program that reads one docker:// image never loads the archive code.
import type { ImageTransport } from '../types.ts';
import { TransportRegistry } from './registry.ts';

const loaders: Readonly<Record<string, () => Promise<ImageTransport>>> = {
  docker: async () => new (await import('./docker/index.ts')).DockerTransport(),
  dir: async () => (await import('./dir/transport.ts')).dirTransport,
  'docker-archive': async () => (await import('./docker-archive/transport.ts')).dockerArchiveTransport,
  oci: async () => (await import('./oci/transport.ts')).ociTransport,
  'oci-archive': async () => (await import('./oci-archive/transport.ts')).ociArchiveTransport,
  sif: async () => (await import('./sif/transport.ts')).sifTransport,
  tarball: async () => (await import('./tarball/transport.ts')).tarballTransport,
  'docker-daemon': async () => (await import('./unsupported/transport.ts')).dockerDaemonTransport,
  'containers-storage': async () => (await import('./unsupported/transport.ts')).containersStorageTransport,
};

/** Every transport Portcullis implements, docker first. */
export async function allTransports(): Promise<ImageTransport[]> {
  return Promise.all(Object.values(loaders).map((load) => load()));
}

/** A registry holding every transport Portcullis implements. */
export async function defaultTransportRegistry(): Promise<TransportRegistry> {
  return new TransportRegistry(await allTransports());
}

/**
 * A registry holding the transports `transport:details` image names use. A name without a known
 * transport gets every transport, so its parse error lists them all.
 */
export async function transportRegistryFor(imageNames: readonly string[]): Promise<TransportRegistry> {
  const wanted = new Set(imageNames.map((n) => (n.includes(':') ? n.slice(0, n.indexOf(':')) : '')));
  if ([...wanted].some((name) => !Object.hasOwn(loaders, name))) return defaultTransportRegistry();
  return new TransportRegistry(await Promise.all([...wanted].map((name) => loaders[name]!())));
}
