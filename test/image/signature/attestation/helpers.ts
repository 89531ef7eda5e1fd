// Attestations made for tests: in-toto statements in DSSE envelopes signed with a key, pushed as
// cosign's `.att` attachment (one layer per envelope) or as sigstore bundle referrers, with
// whatever defect a case needs.
import { type KeyObject, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Digest } from '../../../../src/image/digest.ts';
import { RegistryClient } from '../sigstore/oci.ts';

export const IN_TOTO = 'application/vnd.in-toto+json';
export const DSSE = 'application/vnd.dsse.envelope.v1+json';
export const BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const SLSA_V1 = 'https://slsa.dev/provenance/v1';
export const GENERATOR =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.0.0';

/** A predicate from test/fixtures/attestations/. */
export function fixturePredicate(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../../fixtures/attestations/${name}`, import.meta.url), 'utf8'));
}

export interface StatementOptions {
  readonly predicateType?: string;
  readonly predicate?: unknown;
  /** Raw statement text instead of one built from the options. */
  readonly raw?: string;
}

export function statementBytes(digest: Digest, o: StatementOptions = {}): Buffer {
  if (o.raw !== undefined) return Buffer.from(o.raw);
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'registry.example/app', digest: { sha256: digest.slice('sha256:'.length) } }],
      predicateType: o.predicateType ?? SLSA_V1,
      predicate: o.predicate ?? fixturePredicate('slsa-provenance-v1.json'),
    }),
  );
}

const pae = (type: string, body: Buffer) =>
  Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);

export function envelope(key: KeyObject, payload: Buffer, payloadType = IN_TOTO): Buffer {
  return Buffer.from(
    JSON.stringify({
      payloadType,
      payload: payload.toString('base64'),
      signatures: [{ keyid: '', sig: sign('sha256', pae(payloadType, payload), key).toString('base64') }],
    }),
  );
}

/** A v0.3 bundle holding `payload` in a DSSE envelope by `key`, no transparency log entry. */
export function bundle(key: KeyObject, payload: Buffer, payloadType = IN_TOTO): Buffer {
  return Buffer.from(
    JSON.stringify({
      mediaType: BUNDLE_V03,
      verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [] },
      dsseEnvelope: JSON.parse(envelope(key, payload, payloadType).toString()),
    }),
  );
}

export interface AttLayer {
  readonly envelope: Buffer;
  /** cosign's `predicateType` layer annotation (default: none). */
  readonly predicateType?: string;
}

/** cosign's `.att` attachment: an OCI manifest whose layers are DSSE envelopes. */
export async function pushAtt(
  client: RegistryClient,
  digest: Digest,
  layers: readonly AttLayer[],
): Promise<void> {
  const pushed = [];
  for (const l of layers)
    pushed.push({ ...(await client.pushBlob(l.envelope)), predicateType: l.predicateType });
  const config = await client.pushBlob(
    Buffer.from(
      JSON.stringify({
        architecture: '',
        os: '',
        config: {},
        rootfs: { type: 'layers', diff_ids: pushed.map((p) => p.digest) },
      }),
    ),
  );
  await client.pushManifest(`${digest.replace(':', '-')}.att`, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: pushed.map((p) => ({
      mediaType: DSSE,
      digest: p.digest,
      size: p.size,
      annotations: {
        'dev.cosignproject.cosign/signature': '',
        ...(p.predicateType === undefined ? {} : { predicateType: p.predicateType }),
      },
    })),
  });
}

export { RegistryClient };
