import { BaseError } from '../errors.ts';
import type { ImageReference, ImageTransport } from '../types.ts';

export type TransportErrorCode = 'IMAGE_NAME_INVALID' | 'TRANSPORT_UNKNOWN' | 'TRANSPORT_UNSUPPORTED';

export class TransportError extends BaseError<TransportErrorCode> {}

/** The set of transports a program knows, and the `transport:details` image name syntax. */
export class TransportRegistry {
  readonly #transports = new Map<string, ImageTransport>();

  constructor(transports: Iterable<ImageTransport> = []) {
    for (const t of transports) this.register(t);
  }

  register(transport: ImageTransport): void {
    if (this.#transports.has(transport.name)) {
      throw new TransportError('TRANSPORT_UNKNOWN', `duplicate transport ${JSON.stringify(transport.name)}`);
    }
    this.#transports.set(transport.name, transport);
  }

  get(name: string): ImageTransport | undefined {
    return this.#transports.get(name);
  }

  names(): string[] {
    return [...this.#transports.keys()].sort();
  }

  /** Parses `transport:details`, split at the first colon as upstream does. */
  parseImageName(imageName: string): ImageReference {
    const colon = imageName.indexOf(':');
    if (colon < 0) {
      throw new TransportError(
        'IMAGE_NAME_INVALID',
        `invalid image name ${JSON.stringify(imageName)}: expected colon-separated transport:reference`,
      );
    }
    const name = imageName.slice(0, colon);
    const transport = this.#transports.get(name);
    if (transport === undefined) {
      throw new TransportError(
        'TRANSPORT_UNKNOWN',
        `invalid image name ${JSON.stringify(imageName)}: unknown transport ${JSON.stringify(name)} (known: ${this.names().join(', ')})`,
      );
    }
    return transport.parseReference(imageName.slice(colon + 1));
  }
}

/** The canonical `transport:details` form of a reference. */
export function imageName(ref: ImageReference): string {
  return `${ref.transport.name}:${ref.stringWithinTransport()}`;
}
