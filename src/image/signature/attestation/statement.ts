// The in-toto statement `cosign attest --type T --predicate FILE` makes (cosign's
// pkg/cosign/attestation behaviour, written from its documented types): the predicate type each
// --type names, how the file becomes the predicate, and a v0.1 statement whose one subject is the
// repository and the digest.
import { type Digest, digestHex } from '../../digest.ts';
import { SigstoreError } from '../sigstore/index.ts';

/** cosign's `--type` shorthands and the predicate types they write. */
export const ATTESTATION_TYPES: Readonly<Record<string, string>> = {
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  link: 'https://in-toto.io/Link/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  openvex: 'https://openvex.dev/ns',
  custom: 'https://cosign.sigstore.dev/attestation/v1',
};

/** `--type`: a shorthand above, or a predicate type URI of its own. */
export function predicateTypeOf(type: string): string {
  const known = ATTESTATION_TYPES[type];
  if (known !== undefined) return known;
  if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(type)) {
    throw new SigstoreError(
      'SIGSTORE_STATEMENT_INVALID',
      `--type ${JSON.stringify(type)}: expected one of ${Object.keys(ATTESTATION_TYPES).join(', ')} or a predicate type URI`,
    );
  }
  return type;
}

function parsePredicate(bytes: Uint8Array, type: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new SigstoreError(
      'SIGSTORE_STATEMENT_INVALID',
      `predicate for --type ${type}: invalid json: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/**
 * The statement for `type` over `predicate` (the file's bytes): SPDX tag-value (`spdx`) and
 * cosign's `custom` predicate hold the text; every other type holds the file's JSON.
 */
export function buildStatement(
  type: string,
  predicate: Uint8Array,
  subject: { readonly repository: string; readonly digest: Digest },
  now: Date,
): Buffer {
  const predicateType = predicateTypeOf(type);
  const text = Buffer.from(predicate).toString('utf8');
  let body: unknown;
  if (type === 'spdx') body = text;
  else if (type === 'custom') body = { Data: text, Timestamp: now.toISOString().replace(/\.\d{3}Z$/, 'Z') };
  else {
    body = parsePredicate(predicate, type);
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new SigstoreError(
        'SIGSTORE_STATEMENT_INVALID',
        `predicate for --type ${type}: expected a JSON object`,
      );
  }
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v0.1',
      predicateType,
      subject: [{ name: subject.repository, digest: { sha256: digestHex(subject.digest) } }],
      predicate: body,
    }),
  );
}
