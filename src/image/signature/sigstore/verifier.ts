// The policy engine's SigstoreVerifier (../evaluate.ts) over this module: parsed requirements are
// mapped to SigstoreRequirementInput, compiled once per requirement contents (cached), verified.
import type { Digest } from '../../digest.ts';
import type { SignatureExpectations, SigstoreSignature, SigstoreVerifier } from '../evaluate.ts';
import type { ByteSource, SigstoreSignedRequirement } from '../policy-types.ts';
import type { AcceptedSignature } from '../simple-signing.ts';
import { SigstoreError } from './errors.ts';
import { type ReadFile, type SigstoreRequirementInput, SigstoreTrustCache } from './trust.ts';
import { type SignerDescription, verifySigstoreSignature } from './verify.ts';

type Fields = Record<string, unknown>;

function byteFields(source: ByteSource, prefix: string): Fields {
  switch (source.kind) {
    case 'path':
      return { [`${prefix}Path`]: source.path };
    case 'paths':
      return { [`${prefix}Paths`]: source.paths };
    case 'data':
      return { [`${prefix}Data`]: source.data };
    case 'datas':
      return { [`${prefix}Datas`]: source.datas };
    default:
      throw new SigstoreError('SIGSTORE_TRUST_INVALID', 'unknown key source');
  }
}

/**
 * Portcullis extensions a policy parser may attach to a parsed sigstoreSigned requirement (the
 * upstream model has no place for them): keyless identity patterns and an offline trusted root.
 */
export interface SigstoreRequirementExtensions {
  readonly subjectRegExp?: string;
  readonly oidcIssuerRegExp?: string;
  readonly trustedRootPath?: string;
  readonly trustedRootData?: Uint8Array;
}

export type ExtendedSigstoreRequirement = SigstoreSignedRequirement & {
  readonly extensions?: SigstoreRequirementExtensions;
};

/** policy.json field names again, from the policy parser's model (plus its extensions). */
export function requirementInput(req: ExtendedSigstoreRequirement): SigstoreRequirementInput {
  const base = standardInput(req);
  const x = req.extensions;
  if (x === undefined) return base;
  const root = {
    ...(x.trustedRootPath === undefined ? {} : { trustedRootPath: x.trustedRootPath }),
    ...(x.trustedRootData === undefined ? {} : { trustedRootData: x.trustedRootData }),
  };
  if (base.fulcio === undefined) return { ...base, ...root };
  const { subjectEmail, oidcIssuer, ...fulcio } = base.fulcio;
  return {
    ...base,
    ...root,
    fulcio: {
      ...fulcio,
      ...(x.subjectRegExp === undefined ? { subjectEmail } : { subjectRegExp: x.subjectRegExp }),
      ...(x.oidcIssuerRegExp === undefined ? { oidcIssuer } : { oidcIssuerRegExp: x.oidcIssuerRegExp }),
    },
  };
}

function standardInput(req: SigstoreSignedRequirement): SigstoreRequirementInput {
  const rekor = req.rekorPublicKeys ? byteFields(req.rekorPublicKeys, 'rekorPublicKey') : {};
  switch (req.trust.kind) {
    case 'publicKeys': {
      return { ...byteFields(req.trust.keys, 'key'), ...rekor } as SigstoreRequirementInput;
    }
    case 'fulcio': {
      const { ca, oidcIssuer, subjectEmail } = req.trust.fulcio;
      return {
        fulcio: { ...byteFields(ca, 'ca'), oidcIssuer, subjectEmail },
        ...rekor,
      } as SigstoreRequirementInput;
    }
    case 'pki': {
      const p = req.trust.pki;
      return {
        pki: {
          ...byteFields(p.caRoots, 'caRoots'),
          ...(p.caIntermediates ? byteFields(p.caIntermediates, 'caIntermediates') : {}),
          ...(p.subjectEmail === undefined ? {} : { subjectEmail: p.subjectEmail }),
          ...(p.subjectHostname === undefined ? {} : { subjectHostname: p.subjectHostname }),
        },
      } as SigstoreRequirementInput;
    }
    default:
      throw new SigstoreError('SIGSTORE_TRUST_INVALID', 'unknown sigstoreSigned trust');
  }
}

function keyIdentity(signer: SignerDescription): string {
  return signer.kind === 'key'
    ? signer.source
    : [...signer.emails, ...signer.uris].join(', ') + (signer.issuer ? ` (issuer ${signer.issuer})` : '');
}

/** Keeps the policy engine's upstream wording, under this module's code. */
async function rewrap<T>(
  code: 'SIGSTORE_DIGEST_MISMATCH' | 'SIGSTORE_IDENTITY_MISMATCH',
  run: () => T | Promise<T>,
): Promise<true> {
  try {
    await run();
    return true;
  } catch (err) {
    throw new SigstoreError(code, err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/** The policy engine's SigstoreVerifier, also taking requirements that carry extensions. */
export interface ExtendedSigstoreVerifier extends SigstoreVerifier {
  verify(
    requirement: ExtendedSigstoreRequirement,
    signature: SigstoreSignature,
    expectations: SignatureExpectations,
  ): Promise<AcceptedSignature>;
}

export function createSigstoreVerifier(options: {
  readFile: ReadFile;
  cache?: SigstoreTrustCache;
}): ExtendedSigstoreVerifier {
  const cache = options.cache ?? new SigstoreTrustCache(options.readFile);
  return {
    async verify(
      req: SigstoreSignedRequirement,
      sig: SigstoreSignature,
      expectations: SignatureExpectations,
    ): Promise<AcceptedSignature> {
      const trust = await cache.get(requirementInput(req));
      const accepted = await verifySigstoreSignature(trust, sig, {
        matchesManifestDigest: (d: Digest) =>
          rewrap('SIGSTORE_DIGEST_MISMATCH', () => expectations.validateSignedDockerManifestDigest(d)),
        matchesDockerReference: (r: string) =>
          rewrap('SIGSTORE_IDENTITY_MISMATCH', () => expectations.validateSignedDockerReference(r)),
      });
      return {
        dockerManifestDigest: accepted.payload.dockerManifestDigest,
        dockerReference: accepted.payload.dockerReference,
        keyIdentity: keyIdentity(accepted.signer),
      };
    },
  };
}
