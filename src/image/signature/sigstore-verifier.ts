// Adapts the sigstore module (image/signature/sigstore) to the evaluator's SigstoreVerifier:
// policy requirement -> compiled (cached) trust root -> verification, with the evaluator's
// digest and identity checks so rejections carry upstream's texts.
import { readFile } from 'node:fs/promises';
import { unhandled } from '../errors.ts';
import { discoverAttestations, judgeAttestations } from './attestation/index.ts';
import type { ByteSource } from './policy-types.ts';
import type {
  ReferrerVerification,
  SigstoreTrustFields,
  SigstoreVerifier,
} from './requirements/sigstore-signed.ts';
import {
  DIGEST_ONLY_REASON,
  type DiscoveredSignature,
  discoverSigstoreSignature,
  type ReadFile,
  type SignerDescription,
  type SigstoreRequirementInput,
  SigstoreTrustCache,
  verifySigstoreSignature,
  withSigstoreExtensions,
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
      return unhandled(source, {});
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
function upstreamInput(req: SigstoreTrustFields): SigstoreRequirementInput {
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
      return unhandled(req.trust, {});
  }
}

/** The sigstore module's input for a parsed requirement, Portcullis extensions included. */
export function sigstoreRequirementInput(req: SigstoreTrustFields): SigstoreRequirementInput {
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

const DIGEST_ONLY_ADVICE =
  'to accept signatures that bind only the digest under this scope, set "acceptDigestOnlySignatures": true on the requirement';

function describeSigner(signer: SignerDescription): string {
  return signer.kind === 'key' ? signer.source : (signer.emails[0] ?? signer.uris[0] ?? 'certificate');
}

/** What a discovered signature says, as the evaluator records it. */
function acceptedReferrer(found: DiscoveredSignature): NonNullable<ReferrerVerification['accepted']> {
  const referrer = found.via === 'attachment' ? found.digest : found.referrer;
  if (found.via === 'referrer-bundle') {
    const a = found.accepted;
    const base = { referrer, dockerManifestDigest: a.manifestDigest, keyIdentity: describeSigner(a.signer) };
    // An in-toto statement names no docker reference: accepted only by acceptDigestOnlySignatures.
    return a.payload === undefined
      ? { ...base, dockerReference: '', digestOnly: true }
      : { ...base, dockerReference: a.payload.dockerReference };
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
          acceptsDigestOnly: requirement.acceptDigestOnlySignatures === true,
          ...now(),
        },
        { attachmentsVerified: true },
      );
      return {
        accepted: result.accepted === undefined ? undefined : acceptedReferrer(result.accepted),
        probes: result.probes,
        rejected: result.rejected,
        ...(result.rejected.includes(DIGEST_ONLY_REASON) ? { advice: DIGEST_ONLY_ADVICE } : {}),
        incomplete: result.incomplete,
      };
    },
    async verifyAttestations(requirement, source, image) {
      const trust = await trusts.get(sigstoreRequirementInput(requirement));
      const found = await discoverAttestations(
        source,
        trust,
        { digest: image.digest, predicateType: requirement.predicateType, ...now() },
        (verified) => judgeAttestations(verified, requirement.conditions, image).some((j) => j.satisfied),
      );
      return { ...found, judged: judgeAttestations(found.verified, requirement.conditions, image) };
    },
  };
}
