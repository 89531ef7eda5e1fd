// Test doubles for references and images; the docker-like reference uses the real reference
// grammar and policy naming, so scope lookup sees what the docker transport will produce.
import { readFile } from 'node:fs/promises';
import {
  type DockerReference,
  dockerReferenceIdentity,
  dockerReferenceNamespaces,
  type ImageReference,
  type ImageTransport,
  type ManifestBytes,
  parseNormalizedNamed,
  type Signature,
} from '../../../src/image/index.ts';
import type { UnparsedImage } from '../../../src/image/signature/index.ts';
import { conformanceUrl } from '../../helpers/conformance.ts';

export const conformance = (rel: string): URL => new URL(rel, conformanceUrl);

export const fixture = (rel: string): URL => conformance(`containers-image/signature/fixtures/${rel}`);

export async function readJson<T>(rel: string): Promise<T> {
  return JSON.parse(await readFile(conformance(rel), 'utf8')) as T;
}

function unsupported(): never {
  throw new Error('not supported by the test reference');
}

export function fakeTransport(name: string, validate: (scope: string) => void = () => {}): ImageTransport {
  const transport: ImageTransport = {
    name,
    parseReference: (details) => referenceFor(transport, details),
    validatePolicyConfigurationScope: validate,
  };
  return transport;
}

function referenceFor(transport: ImageTransport, details: string): ImageReference {
  if (transport.name === 'docker') return dockerLikeReference(details.replace(/^\/\//, ''), transport);
  return pathLikeReference(transport, details);
}

/** A docker: reference; identity and namespaces from the shared reference code. */
export function dockerLikeReference(
  name: string,
  transport: ImageTransport = fakeTransport('docker'),
): ImageReference {
  const ref: DockerReference = parseNormalizedNamed(name).tagNameOnly();
  return {
    transport,
    stringWithinTransport: () => `//${ref.toString()}`,
    dockerReference: () => ref,
    policyConfigurationIdentity: () => dockerReferenceIdentity(ref),
    policyConfigurationNamespaces: () => dockerReferenceNamespaces(ref),
    newImageSource: unsupported,
    newImageDestination: unsupported,
    deleteImage: unsupported,
  };
}

/** A dir:-like reference: no docker reference; parent directories as namespaces. */
export function pathLikeReference(transport: ImageTransport, path: string): ImageReference {
  const namespaces: string[] = [];
  for (let p = path; p.lastIndexOf('/') > 0; ) {
    p = p.slice(0, p.lastIndexOf('/'));
    namespaces.push(p);
  }
  return {
    transport,
    stringWithinTransport: () => path,
    dockerReference: () => undefined,
    policyConfigurationIdentity: () => path,
    policyConfigurationNamespaces: () => namespaces,
    newImageSource: unsupported,
    newImageDestination: unsupported,
    deleteImage: unsupported,
  };
}

export interface CountingImage extends UnparsedImage {
  readonly calls: { manifest: number; signatures: number };
}

function countingImage(
  reference: ImageReference,
  manifest: () => Promise<Uint8Array>,
  signatures: () => Promise<Signature[]>,
): CountingImage {
  const calls = { manifest: 0, signatures: 0 };
  return {
    reference,
    calls,
    async manifest(): Promise<ManifestBytes> {
      calls.manifest++;
      return { manifest: await manifest(), mimeType: 'application/vnd.docker.distribution.manifest.v2+json' };
    },
    async signatures() {
      calls.signatures++;
      return signatures();
    },
  };
}

export function memoryImage(
  reference: ImageReference,
  manifest: Uint8Array,
  signatures: Signature[],
): CountingImage {
  return countingImage(
    reference,
    async () => manifest,
    async () => signatures,
  );
}

/** Reads a dir:-layout image fixture (manifest.json, signature-1..N). */
export function dirImage(dir: URL, reference: ImageReference): CountingImage {
  return countingImage(
    reference,
    () => readFile(new URL('manifest.json', dir)),
    async () => {
      const sigs: Signature[] = [];
      for (let i = 1; ; i++) {
        try {
          sigs.push({ format: 'simple-signing', blob: await readFile(new URL(`signature-${i}`, dir)) });
        } catch {
          return sigs;
        }
      }
    },
  );
}
