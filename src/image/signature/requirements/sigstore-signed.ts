// `sigstoreSigned`: a cosign signature (`.sig` attachment, or with a Portcullis-configured
// verifier an OCI 1.1 referrer) verified with the requirement's public keys, Fulcio or PKI trust,
// whose payload names the image's manifest digest and a reference its signedIdentity accepts
// (upstream policy_eval_sigstore.go). The cryptography is the injected SigstoreVerifier's.
import type { Digest } from '../../digest.ts';
import { unhandled } from '../../errors.ts';
import { manifestDigest } from '../../manifest/index.ts';
import type { ImageSource, Signature } from '../../types.ts';
import type { AttestationDiscovery, ImageFacts, JudgedAttestation } from '../attestation/index.ts';
import type { SignatureAttempt } from '../evaluate.ts';
import { parseSignedIdentity } from '../identity.ts';
import { asString, invalidValue, type JsonNode, ObjectReader } from '../json.ts';
import type { ByteSource, PathOrData, SignedIdentity } from '../policy-types.ts';
import type { AcceptedSignature } from '../simple-signing.ts';
import { optionalBoolean, pathOrData, sourcePaths, takeSources } from './key-sources.ts';
import {
  expectations,
  rejectedAttempt,
  type SignatureExpectations,
  summarize,
  withIndexSignatures,
} from './signatures.ts';
import type { SigstoreAttestedRequirement } from './sigstore-attested.ts';
import type { EvaluationContext, ImageView, Outcome, RequirementType } from './types.ts';

export interface SigstoreFulcio {
  /** Undefined only when the requirement's trustedRoot extension supplies the CAs. */
  readonly ca: PathOrData | undefined;
  /** Exactly one of oidcIssuer / oidcIssuerRegExp is set, and of subjectEmail / subjectRegExp. */
  readonly oidcIssuer: string | undefined;
  readonly subjectEmail: string | undefined;
  /** Portcullis extension: the whole OIDC issuer matches this (anchored) regular expression. */
  readonly oidcIssuerRegExp?: string;
  /** Portcullis extension: some SAN email or URI matches this (anchored) regular expression. */
  readonly subjectRegExp?: string;
}

export interface SigstorePki {
  readonly caRoots: PathOrData;
  readonly caIntermediates: PathOrData | undefined;
  /** At least one of subjectEmail / subjectHostname is set. */
  readonly subjectEmail: string | undefined;
  readonly subjectHostname: string | undefined;
}

/** The one trust root of a sigstoreSigned requirement. */
export type SigstoreTrustRoot =
  | { readonly kind: 'publicKeys'; readonly keys: ByteSource }
  | { readonly kind: 'fulcio'; readonly fulcio: SigstoreFulcio }
  | { readonly kind: 'pki'; readonly pki: SigstorePki };

export interface SigstoreSignedRequirement {
  readonly type: 'sigstoreSigned';
  readonly trust: SigstoreTrustRoot;
  /** Required with fulcio (unless trustedRoot has tlogs), forbidden with pki, optional with public keys. */
  readonly rekorPublicKeys: ByteSource | undefined;
  readonly signedIdentity: SignedIdentity;
  /**
   * Portcullis extension (`trustedRootPath` / `trustedRootData`): an offline sigstore
   * trusted_root.json supplying Fulcio CAs and Rekor keys; needed to verify bundles.
   */
  readonly trustedRoot?: PathOrData;
  /**
   * Portcullis extension: when an instance of a manifest list is evaluated and none of its
   * own signatures is accepted, a signature of the list (its payload naming the list's
   * digest) is accepted too. Upstream only ever looks at the instance's signatures.
   */
  readonly acceptIndexSignatures?: boolean;
  /**
   * Portcullis extension: a signature that names no docker reference (a sigstore bundle's
   * in-toto statement binds only the manifest digest, as cosign v3 signs by default) passes
   * the identity step, which it otherwise fails whatever signedIdentity says. Signatures
   * that do name a reference are still held to signedIdentity.
   */
  readonly acceptDigestOnlySignatures?: boolean;
}

/** The trust fields sigstoreSigned and sigstoreAttested share. */
export type SigstoreTrustFields = Pick<
  SigstoreSignedRequirement,
  'trust' | 'rekorPublicKeys' | 'trustedRoot'
>;

export const SIGSTORE_SIGNATURE_MIME_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';

export type SigstoreSignature = Extract<Signature, { format: 'sigstore-json' }>;

/**
 * Verifies cosign-format signatures for sigstoreSigned requirements (implemented in
 * image/signature/sigstore). `verify` resolves only for a signature it accepted (crypto, strict
 * payload parse with type "cosign container image signature", then both expectations); any
 * rejection is a thrown Error whose message is the reason shown to users.
 */
export interface SigstoreVerifier {
  verify(
    requirement: SigstoreSignedRequirement,
    signature: SigstoreSignature,
    expectations: SignatureExpectations,
  ): Promise<AcceptedSignature>;
  /**
   * Optional: looks for a signature `requirement` accepts among the referrers of `digest` in
   * `source`, bounded. Resolves with what it probed (one line per place) whatever it found.
   */
  verifyReferrers?(
    requirement: SigstoreSignedRequirement,
    source: ImageSource,
    digest: Digest,
    expectations: SignatureExpectations,
  ): Promise<ReferrerVerification>;
  /**
   * Optional: the attestations of `image.digest` in `source` that `requirement` trusts, each
   * judged by its conditions (until one satisfies them all). Never throws for registry content.
   */
  verifyAttestations?(
    requirement: SigstoreAttestedRequirement,
    source: ImageSource,
    image: ImageFacts,
  ): Promise<AttestationDiscovery & { readonly judged: readonly JudgedAttestation[] }>;
}

export interface ReferrerVerification {
  readonly accepted:
    | (AcceptedSignature & { readonly referrer: Digest; readonly digestOnly?: true })
    | undefined;
  readonly probes: readonly string[];
  /** Why each signature found among the referrers was rejected, in short words (not attestations). */
  readonly rejected: readonly string[];
  /** What the requirement could set to accept a rejected signature, said after the reasons. */
  readonly advice?: string;
  /** Something could not be read (maybe temporarily): a denial then is undecided, not final. */
  readonly incomplete: boolean;
}

function optionalString(obj: ObjectReader, key: string): string {
  const node = obj.take(key);
  return node === undefined ? '' : asString(node);
}

/** Extension fields hold anchored patterns (`^(?:…)$`); rejected here if they do not compile. */
function optionalPattern(obj: ObjectReader, key: string): string | undefined {
  const node = obj.take(key);
  if (node === undefined) return undefined;
  const pattern = asString(node);
  try {
    new RegExp(`^(?:${pattern})$`, 'u');
  } catch {
    throw invalidValue(node, `${key}: invalid regular expression ${JSON.stringify(pattern)}`);
  }
  return pattern;
}

/** Exactly one of an upstream exact field and its RegExp extension. */
function exactOrPattern(
  node: JsonNode,
  exact: string,
  pattern: string | undefined,
  [key, patternKey]: [string, string],
): string | undefined {
  if (exact !== '' && pattern !== undefined)
    throw invalidValue(node, `${key} and ${patternKey} cannot be used simultaneously`);
  if (exact === '' && pattern === undefined) throw invalidValue(node, `${key} not specified`);
  return exact === '' ? undefined : exact;
}

function parseFulcio(node: JsonNode, hasTrustedRoot: boolean): SigstoreFulcio {
  const obj = new ObjectReader(node, 'a fulcio object');
  const ca = pathOrData(obj, 'caPath', 'caData');
  const oidcIssuer = optionalString(obj, 'oidcIssuer');
  const subjectEmail = optionalString(obj, 'subjectEmail');
  const oidcIssuerRegExp = optionalPattern(obj, 'oidcIssuerRegExp');
  const subjectRegExp = optionalPattern(obj, 'subjectRegExp');
  obj.finish(['caPath', 'caData', 'oidcIssuer', 'subjectEmail', 'oidcIssuerRegExp', 'subjectRegExp']);
  if (ca === undefined && !hasTrustedRoot)
    throw invalidValue(node, 'at least one of caPath and caData must be specified');
  return {
    ca,
    oidcIssuer: exactOrPattern(node, oidcIssuer, oidcIssuerRegExp, ['oidcIssuer', 'oidcIssuerRegExp']),
    subjectEmail: exactOrPattern(node, subjectEmail, subjectRegExp, ['subjectEmail', 'subjectRegExp']),
    ...(oidcIssuerRegExp === undefined ? {} : { oidcIssuerRegExp }),
    ...(subjectRegExp === undefined ? {} : { subjectRegExp }),
  };
}

function parsePki(node: JsonNode): SigstorePki {
  const obj = new ObjectReader(node, 'a pki object');
  const caRoots = pathOrData(obj, 'caRootsPath', 'caRootsData');
  const caIntermediates = pathOrData(obj, 'caIntermediatesPath', 'caIntermediatesData');
  const subjectEmail = optionalString(obj, 'subjectEmail');
  const subjectHostname = optionalString(obj, 'subjectHostname');
  obj.finish([
    'caRootsPath',
    'caRootsData',
    'caIntermediatesPath',
    'caIntermediatesData',
    'subjectEmail',
    'subjectHostname',
  ]);
  if (caRoots === undefined)
    throw invalidValue(node, 'at least one of caRootsPath and caRootsData must be specified');
  if (subjectEmail === '' && subjectHostname === '') {
    throw invalidValue(node, 'at least one of subjectEmail, subjectHostname must be specified');
  }
  return {
    caRoots,
    caIntermediates,
    subjectEmail: subjectEmail === '' ? undefined : subjectEmail,
    subjectHostname: subjectHostname === '' ? undefined : subjectHostname,
  };
}

/** The trust members a sigstore requirement may have (policy.json names). */
const SIGSTORE_TRUST_KEYS = [
  'keyPath',
  'keyPaths',
  'keyData',
  'keyDatas',
  'fulcio',
  'pki',
  'rekorPublicKeyPath',
  'rekorPublicKeyPaths',
  'rekorPublicKeyData',
  'rekorPublicKeyDatas',
  'trustedRootPath',
  'trustedRootData',
];

/**
 * The trust of a sigstoreSigned (or sigstoreAttested) requirement, with upstream's rules: exactly
 * one trust root, Rekor keys as each root allows. `finish` ends the object with the requirement's
 * own other members, before the cross-field checks (as upstream reports unknown fields first).
 */
export function parseSigstoreTrustFields(
  obj: ObjectReader,
  finish: (trustKeys: readonly string[]) => void,
): SigstoreTrustFields {
  const keySources = takeSources(obj, {
    path: 'keyPath',
    paths: 'keyPaths',
    data: 'keyData',
    datas: 'keyDatas',
  });
  const trusts: SigstoreTrustRoot[] = keySources.map((keys) => ({ kind: 'publicKeys', keys }));
  // Extension: an offline trusted root may stand in for fulcio's CA and the Rekor keys.
  const trustedRoot = pathOrData(obj, 'trustedRootPath', 'trustedRootData');
  const fulcio = obj.take('fulcio');
  if (fulcio !== undefined)
    trusts.push({ kind: 'fulcio', fulcio: parseFulcio(fulcio, trustedRoot !== undefined) });
  const pki = obj.take('pki');
  if (pki !== undefined) trusts.push({ kind: 'pki', pki: parsePki(pki) });
  const rekor = takeSources(obj, {
    path: 'rekorPublicKeyPath',
    paths: 'rekorPublicKeyPaths',
    data: 'rekorPublicKeyData',
    datas: 'rekorPublicKeyDatas',
  });
  finish(SIGSTORE_TRUST_KEYS);
  const [trust, ...moreTrust] = trusts;
  if (trust === undefined || moreTrust.length > 0) {
    throw invalidValue(
      obj.node,
      'exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified',
    );
  }
  if (rekor.length > 1) {
    throw invalidValue(
      obj.node,
      'at most one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and rekorPublicKeyDatas can be used simultaneously',
    );
  }
  const rekorPublicKeys = rekor[0];
  if (trust.kind === 'fulcio' && rekorPublicKeys === undefined && trustedRoot === undefined) {
    throw invalidValue(
      obj.node,
      'at least one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and rekorPublicKeyDatas must be specified if fulcio is used',
    );
  }
  if (trust.kind === 'pki' && trustedRoot !== undefined)
    throw invalidValue(obj.node, 'trustedRootPath and trustedRootData are not supported for pki');
  if (trust.kind === 'pki' && rekorPublicKeys !== undefined) {
    throw invalidValue(
      obj.node,
      'rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and rekorPublicKeyDatas are not supported for pki',
    );
  }
  return { trust, rekorPublicKeys, ...(trustedRoot === undefined ? {} : { trustedRoot }) };
}

function parse(obj: ObjectReader): SigstoreSignedRequirement {
  let identity: JsonNode | undefined;
  let acceptIndexSignatures: JsonNode | undefined;
  let acceptDigestOnlySignatures: JsonNode | undefined;
  const trust = parseSigstoreTrustFields(obj, (trustKeys) => {
    identity = obj.take('signedIdentity');
    acceptIndexSignatures = obj.take('acceptIndexSignatures');
    acceptDigestOnlySignatures = obj.take('acceptDigestOnlySignatures');
    obj.finish([
      'type',
      ...trustKeys,
      'signedIdentity',
      'acceptIndexSignatures',
      'acceptDigestOnlySignatures',
    ]);
  });
  return {
    type: 'sigstoreSigned',
    ...trust,
    rekorPublicKeys: trust.rekorPublicKeys,
    signedIdentity:
      identity === undefined ? { type: 'matchRepoDigestOrExact' } : parseSignedIdentity(identity),
    ...optionalBoolean('acceptIndexSignatures', acceptIndexSignatures),
    ...optionalBoolean('acceptDigestOnlySignatures', acceptDigestOnlySignatures),
  };
}

/** The files a sigstore trust root names. */
function rootPaths(trust: SigstoreTrustRoot): string[] {
  switch (trust.kind) {
    case 'publicKeys':
      return sourcePaths(trust.keys);
    case 'fulcio':
      return sourcePaths(trust.fulcio.ca);
    case 'pki':
      return [...sourcePaths(trust.pki.caRoots), ...sourcePaths(trust.pki.caIntermediates)];
    default:
      return unhandled(trust, []);
  }
}

/** The files sigstore trust fields name: keys or CAs, Rekor keys, the trusted root. */
export function sigstoreTrustFiles(req: SigstoreTrustFields): string[] {
  return [...rootPaths(req.trust), ...sourcePaths(req.rekorPublicKeys), ...sourcePaths(req.trustedRoot)];
}

const notConfigured: Outcome = {
  allowed: false,
  code: 'SIGSTORE_NOT_CONFIGURED',
  reason: 'sigstore verification not configured: sigstoreSigned requirements cannot be evaluated',
};

/**
 * What a denial says first. Upstream's wording where upstream has the case (no signature
 * anywhere; only `.sig` signatures, all rejected); once a referrer held a signature, how many
 * signatures were found and why each was rejected, with the opt-in a digest-only one needs.
 */
function headline(
  attachments: readonly SignatureAttempt[],
  found: ReferrerVerification,
  outcome: Outcome,
): string {
  if (found.rejected.length === 0) return outcome.reason ?? 'denied';
  const reasons = [
    ...attachments.filter((a) => !a.accepted).map((a) => a.reason ?? 'rejected'),
    ...found.rejected,
  ];
  const counts = new Map<string, number>();
  for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  const why = [...counts].map(([r, n]) => (n === 1 ? r : `${n}× ${r}`)).join(', ');
  const n = reasons.length;
  const advice = found.advice === undefined ? '' : ` (${found.advice})`;
  return `${n} signature${n === 1 ? '' : 's'} found, ${n === 1 ? '' : 'all '}rejected: ${why}${advice}`;
}

async function signedOn(
  req: SigstoreSignedRequirement,
  view: ImageView,
  ctx: EvaluationContext,
): Promise<Outcome> {
  const verifier = ctx.sigstore;
  if (verifier === undefined)
    return {
      allowed: false,
      code: 'SIGSTORE_NOT_CONFIGURED',
      reason: 'sigstore verification not configured',
    };
  const all = await view.signatures();
  const attempts: SignatureAttempt[] = [];
  let otherFormat = 0;
  let nonSignatureAttachments = 0;
  const expected = expectations(req.signedIdentity, view);
  for (const [index, sig] of all.entries()) {
    if (sig.format !== 'sigstore-json') {
      otherFormat++;
      continue;
    }
    if (sig.mimeType !== SIGSTORE_SIGNATURE_MIME_TYPE) {
      nonSignatureAttachments++;
      continue;
    }
    try {
      const accepted = await verifier.verify(req, sig, expected);
      attempts.push({ index, format: sig.format, accepted: true, ...accepted });
      return { allowed: true, signatures: attempts, skipped: { otherFormat, nonSignatureAttachments } };
    } catch (err) {
      attempts.push(rejectedAttempt(index, sig, err));
    }
  }
  const none =
    otherFormat === 0 && nonSignatureAttachments === 0
      ? 'A signature was required, but no signature exists'
      : `A signature was required, but no signature exists (${otherFormat} non-sigstore signatures, ${nonSignatureAttachments} sigstore non-signature attachments)`;
  const outcome = { ...summarize(attempts, none), skipped: { otherFormat, nonSignatureAttachments } };
  return referrers(req, view, verifier, outcome, nonSignatureAttachments);
}

/** Extension: the image's referrers, when the attachments did not satisfy `req`. */
async function referrers(
  req: SigstoreSignedRequirement,
  view: ImageView,
  verifier: SigstoreVerifier,
  outcome: Outcome,
  nonSignatureAttachments: number,
): Promise<Outcome> {
  if (verifier.verifyReferrers === undefined) return outcome;
  const source = await view.referrerSource();
  if (source === undefined) return outcome;
  const digest = manifestDigest((await view.manifest()).manifest);
  const found = await verifier.verifyReferrers(req, source, digest, expectations(req.signedIdentity, view));
  const attempts = outcome.signatures ?? [];
  const tag = `tag ${digest.replace(':', '-')}.sig: ${
    attempts.length === 0 && nonSignatureAttachments === 0
      ? 'no signatures'
      : `${attempts.length} signature${attempts.length === 1 ? '' : 's'} rejected${nonSignatureAttachments ? `, ${nonSignatureAttachments} non-signature attachments` : ''}`
  }`;
  const probes = [tag, ...found.probes];
  if (found.accepted !== undefined) {
    const { referrer, ...accepted } = found.accepted;
    const attempt = { index: attempts.length, referrer, format: 'sigstore-json' as const, accepted: true };
    const signatures = [...attempts, { ...attempt, ...accepted }];
    return { allowed: true, signatures, ...(outcome.skipped ? { skipped: outcome.skipped } : {}), probes };
  }
  const reason = `${headline(attempts, found, outcome)}; probed: ${probes.join('; ')}`;
  // A referrer that could not be read might have been the signature: undecided, never cached.
  if (found.incomplete) return { ...outcome, code: 'EVALUATION_FAILED', reason, probes };
  return found.rejected.length > 0
    ? { ...outcome, code: 'SIGNATURE_REJECTED', reason, probes }
    : { ...outcome, reason, probes };
}

function extensionFields(req: SigstoreSignedRequirement): string[] {
  const fields: string[] = [];
  if (req.trust.kind === 'fulcio') {
    if (req.trust.fulcio.subjectRegExp !== undefined) fields.push('fulcio.subjectRegExp');
    if (req.trust.fulcio.oidcIssuerRegExp !== undefined) fields.push('fulcio.oidcIssuerRegExp');
  }
  if (req.trustedRoot !== undefined)
    fields.push(req.trustedRoot.kind === 'path' ? 'trustedRootPath' : 'trustedRootData');
  if (req.acceptIndexSignatures !== undefined) fields.push('acceptIndexSignatures');
  if (req.acceptDigestOnlySignatures !== undefined) fields.push('acceptDigestOnlySignatures');
  return fields;
}

export const sigstoreSigned: RequirementType<SigstoreSignedRequirement> = {
  name: 'sigstoreSigned',
  parse,
  decideWithoutImage: (_req, ctx) => (ctx.sigstore === undefined ? notConfigured : undefined),
  evaluate: (req, view, ctx) =>
    withIndexSignatures(req.acceptIndexSignatures, view, (v) => signedOn(req, v, ctx)),
  policyOnly: false,
  readsSigstoreSignatures: true,
  strength: () => 'verifies',
  extensionFields,
  lint: (req) =>
    req.acceptDigestOnlySignatures === true
      ? [
          {
            code: 'IDENTITY_NOT_CHECKED',
            message:
              'acceptDigestOnlySignatures is weaker than signedIdentity: a signature that binds only the digest, made for any repository, admits the same image under this scope',
          },
        ]
      : [],
  files: sigstoreTrustFiles,
};
