import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ImageReference,
  type ImageTransport,
  imageName,
  TransportError,
  TransportRegistry,
} from '../../../src/image/index.ts';

function echoTransport(name: string): ImageTransport {
  const transport: ImageTransport = {
    name,
    parseReference(details: string): ImageReference {
      const notUsed = async (): Promise<never> => {
        throw new Error('not used');
      };
      return {
        transport,
        stringWithinTransport: () => details,
        dockerReference: () => undefined,
        policyConfigurationIdentity: () => '',
        policyConfigurationNamespaces: () => [],
        newImageSource: notUsed,
        newImageDestination: notUsed,
        deleteImage: notUsed,
      };
    },
    validatePolicyConfigurationScope() {},
  };
  return transport;
}

describe('TransportRegistry.parseImageName', () => {
  const registry = new TransportRegistry([echoTransport('oci'), echoTransport('docker')]);

  it('splits at the first colon only', () => {
    const ref = registry.parseImageName('oci:/etc:someimage:mytag');
    assert.equal(ref.transport.name, 'oci');
    assert.equal(ref.stringWithinTransport(), '/etc:someimage:mytag');
    assert.equal(imageName(ref), 'oci:/etc:someimage:mytag');
  });

  it('refuses a name without a transport', () => {
    assert.throws(
      () => registry.parseImageName('busybox'),
      (e: unknown) => e instanceof TransportError && e.code === 'IMAGE_NAME_INVALID',
    );
  });

  it('refuses an unknown transport and lists the known ones', () => {
    assert.throws(
      () => registry.parseImageName('nope:x'),
      (e: unknown) =>
        e instanceof TransportError && e.code === 'TRANSPORT_UNKNOWN' && /docker, oci/.test(e.message),
    );
  });

  it('refuses registering a transport name twice', () => {
    assert.throws(() => registry.register(echoTransport('oci')), TransportError);
  });
});
