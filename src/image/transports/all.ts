// The default set of transports: the only module that imports concrete transports.
import type { ImageTransport } from '../types.ts';
import { dirTransport } from './dir/transport.ts';
import { DockerTransport } from './docker/index.ts';
import { dockerArchiveTransport } from './docker-archive/transport.ts';
import { ociTransport } from './oci/transport.ts';
import { ociArchiveTransport } from './oci-archive/transport.ts';
import { TransportRegistry } from './registry.ts';
import { sifTransport } from './sif/transport.ts';
import { tarballTransport } from './tarball/transport.ts';
import { containersStorageTransport, dockerDaemonTransport } from './unsupported/transport.ts';

/** Every transport Portcullis implements, docker first. */
export function allTransports(): ImageTransport[] {
  return [
    new DockerTransport(),
    dirTransport,
    dockerArchiveTransport,
    ociTransport,
    ociArchiveTransport,
    sifTransport,
    tarballTransport,
    dockerDaemonTransport,
    containersStorageTransport,
  ];
}

/** A registry holding every transport Portcullis implements. */
export function defaultTransportRegistry(): TransportRegistry {
  return new TransportRegistry(allTransports());
}
