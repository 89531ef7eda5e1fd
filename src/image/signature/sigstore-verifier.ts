// Adapts the sigstore module (image/signature/sigstore) to the evaluator's SigstoreVerifier:
// policy requirement -> compiled (cached) trust root -> verification, with the evaluator's
// digest and identity checks so rejections carry upstream's texts.
import { readFile } from 'node:fs/promises';
import type { SigstoreVerifier } from './evaluate.ts';
import type { ByteSource, SigstoreSignedRequirement } from './policy-types.ts';
import {
  type ReadFile,
  type SigstoreRequirementInput,
  SigstoreTrustCache,
  verifySigstoreSignature,
} from './sigstore/index.ts';

function keyFields(source: ByteSource, prefix: 'key' | 'rekorPublicKey'): SigstoreRequirementInput {
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
      return {};
  }
}

function pathOrData<K extends string>(
  source: ByteSource | undefined,
  path: K,
  data: string,
): Record<string, unknown> {
  if (source === undefined) return {};
  return source.kind === 'path'
    ? { [path]: source.path }
    : source.kind === 'data'
      ? { [data]: source.data }
      : {};
}

/** The sigstore module's input for a parsed requirement. */
export function sigstoreRequirementInput(req: SigstoreSignedRequirement): SigstoreRequirementInput {
  const rekor = req.rekorPublicKeys === undefined ? {} : keyFields(req.rekorPublicKeys, 'rekorPublicKey');
  switch (req.trust.kind) {
    case 'publicKeys':
      return { ...keyFields(req.trust.keys, 'key'), ...rekor };
    case 'fulcio': {
      const f = req.trust.fulcio;
      return {
        fulcio: {
          ...pathOrData(f.ca, 'caPath', 'caData'),
          oidcIssuer: f.oidcIssuer,
          subjectEmail: f.subjectEmail,
        },
        ...rekor,
      };
    }
    case 'pki': {
      const p = req.trust.pki;
      return {
        pki: {
          ...pathOrData(p.caRoots, 'caRootsPath', 'caRootsData'),
          ...pathOrData(p.caIntermediates, 'caIntermediatesPath', 'caIntermediatesData'),
          ...(p.subjectEmail === undefined ? {} : { subjectEmail: p.subjectEmail }),
          ...(p.subjectHostname === undefined ? {} : { subjectHostname: p.subjectHostname }),
        },
      };
    }
    default:
      return {};
  }
}

export function sigstoreVerifier(
  options: { readonly readFile?: ReadFile; readonly now?: () => Date } = {},
): SigstoreVerifier {
  const trusts = new SigstoreTrustCache(options.readFile ?? ((path) => readFile(path)));
  return {
    async verify(requirement, signature, expectations) {
      const trust = await trusts.get(sigstoreRequirementInput(requirement));
      const accepted = await verifySigstoreSignature(trust, signature, {
        // The evaluator's checks throw with upstream's reason; a pass is "matches".
        async matchesManifestDigest(digest) {
          await expectations.validateSignedDockerManifestDigest(digest);
          return true;
        },
        matchesDockerReference(reference) {
          expectations.validateSignedDockerReference(reference);
          return true;
        },
        ...(options.now === undefined ? {} : { now: options.now() }),
      });
      const signer =
        accepted.signer.kind === 'key'
          ? accepted.signer.source
          : (accepted.signer.emails[0] ?? accepted.signer.uris[0] ?? 'certificate');
      return {
        dockerManifestDigest: accepted.payload.dockerManifestDigest,
        dockerReference: accepted.payload.dockerReference,
        keyIdentity: signer,
      };
    },
  };
}
