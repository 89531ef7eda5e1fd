// Adapts the sigstore module (image/signature/sigstore) to the evaluator's SigstoreVerifier:
// policy requirement -> compiled (cached) trust root -> verification, with the evaluator's
// digest and identity checks so rejections carry upstream's texts.
import { readFile } from 'node:fs/promises';
import type { Digest } from '../digest.ts';
import type { SigstoreVerifier } from './evaluate.ts';
import type { ByteSource, SigstoreSignedRequirement } from './policy-types.ts';
import {
  type DiscoveredSignature,
  discoverSigstoreSignature,
  type ReadFile,
  type SignerDescription,
  type SigstoreRequirementInput,
  SigstoreTrustCache,
  verifySigstoreSignature,
  withSigstoreExtensions,
} from './sigstore/index.ts';
import type { AcceptedSignature } from './simple-signing.ts';

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

/** The upstream fields of a parsed requirement as the sigstore module's input. */
function upstreamInput(req: SigstoreSignedRequirement): SigstoreRequirementInput {
  const rekor = req.rekorPublicKeys === undefined ? {} : keyFields(req.rekorPublicKeys, 'rekorPublicKey');
  switch (req.trust.kind) {
    case 'publicKeys':
      return { ...keyFields(req.trust.keys, 'key'), ...rekor };
    case 'fulcio': {
      const f = req.trust.fulcio;
      return {
        fulcio: {
          ...pathOrData(f.ca, 'caPath', 'caData'),
          ...(f.oidcIssuer === undefined ? {} : { oidcIssuer: f.oidcIssuer }),
          ...(f.subjectEmail === undefined ? {} : { subjectEmail: f.subjectEmail }),
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

/** The sigstore module's input for a parsed requirement, Portcullis extensions included. */
export function sigstoreRequirementInput(req: SigstoreSignedRequirement): SigstoreRequirementInput {
  const fulcio = req.trust.kind === 'fulcio' ? req.trust.fulcio : undefined;
  const root = req.trustedRoot;
  return withSigstoreExtensions(upstreamInput(req), {
    ...(fulcio?.subjectRegExp === undefined ? {} : { subjectRegExp: fulcio.subjectRegExp }),
    ...(fulcio?.oidcIssuerRegExp === undefined ? {} : { oidcIssuerRegExp: fulcio.oidcIssuerRegExp }),
    ...(root === undefined
      ? {}
      : root.kind === 'path'
        ? { trustedRootPath: root.path }
        : { trustedRootData: root.data }),
  });
}

function describeSigner(signer: SignerDescription): string {
  return signer.kind === 'key' ? signer.source : (signer.emails[0] ?? signer.uris[0] ?? 'certificate');
}

/** What a discovered signature says, as the evaluator records it. */
function acceptedReferrer(found: DiscoveredSignature): AcceptedSignature & { referrer: Digest } {
  const referrer = found.via === 'attachment' ? found.digest : found.referrer;
  if (found.via === 'referrer-bundle') {
    const a = found.accepted;
    return {
      referrer,
      dockerManifestDigest: a.manifestDigest,
      // In-toto statements name no docker reference (signedIdentity cannot apply to them).
      dockerReference: a.payload?.dockerReference ?? '',
      keyIdentity: describeSigner(a.signer),
    };
  }
  return {
    referrer,
    dockerManifestDigest: found.accepted.payload.dockerManifestDigest,
    dockerReference: found.accepted.payload.dockerReference,
    keyIdentity: describeSigner(found.accepted.signer),
  };
}

export function sigstoreVerifier(
  options: { readonly readFile?: ReadFile; readonly now?: () => Date } = {},
): Required<SigstoreVerifier> {
  const trusts = new SigstoreTrustCache(options.readFile ?? ((path) => readFile(path)));
  const now = () => (options.now === undefined ? {} : { now: options.now() });
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
        ...now(),
      });
      return {
        dockerManifestDigest: accepted.payload.dockerManifestDigest,
        dockerReference: accepted.payload.dockerReference,
        keyIdentity: describeSigner(accepted.signer),
      };
    },
    async verifyReferrers(requirement, source, digest, expectations) {
      const trust = await trusts.get(sigstoreRequirementInput(requirement));
      // Booleans here, so discovery's explanation says "signature for another image" and the like.
      const result = await discoverSigstoreSignature(
        source,
        digest,
        undefined,
        trust,
        {
          matchesManifestDigest: (d) =>
            expectations.validateSignedDockerManifestDigest(d).then(
              () => true,
              () => false,
            ),
          matchesDockerReference(reference) {
            try {
              expectations.validateSignedDockerReference(reference);
              return true;
            } catch {
              return false;
            }
          },
          ...now(),
        },
        { attachmentsVerified: true },
      );
      return {
        accepted: result.accepted === undefined ? undefined : acceptedReferrer(result.accepted),
        probes: result.probes,
        incomplete: result.incomplete,
      };
    },
  };
}
