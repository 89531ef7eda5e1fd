// Transports that need a daemon or containers/storage: recognised by name, answered with a typed error.

import { LocalTransportError } from '../../local/errors.ts';
import type { ImageReference, ImageTransport } from '../../types.ts';

function unsupported(name: string, why: string): ImageTransport {
  return {
    name,
    parseReference(_details: string): ImageReference {
      throw new LocalTransportError(
        'NOT_SUPPORTED',
        `the ${name}: transport is not supported by portcullis: ${why}`,
      );
    },
    validatePolicyConfigurationScope(_scope: string): void {
      throw new LocalTransportError(
        'NOT_SUPPORTED',
        `the ${name}: transport is not supported by portcullis: ${why}`,
      );
    },
  };
}

export const dockerDaemonTransport = unsupported('docker-daemon', 'it needs a Docker daemon');
export const containersStorageTransport = unsupported('containers-storage', 'it needs containers/storage');
