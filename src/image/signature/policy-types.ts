// The policy.json model (containers-policy.json(5)): plain data, discriminated by `type`.
import type { CompiledCondition } from './cel/index.ts';
import type { NotationSettings } from './notation/index.ts';

/** How a signature's claimed docker reference must relate to the image (or to a fixed value). */
export type SignedIdentity =
  | { readonly type: 'matchExact' }
  | { readonly type: 'matchRepoDigestOrExact' }
  | { readonly type: 'matchRepository' }
  /** `dockerReference` as written (normalized at match time); has a tag or digest. */
  | { readonly type: 'exactReference'; readonly dockerReference: string }
  | { readonly type: 'exactRepository'; readonly dockerRepository: string }
  | { readonly type: 'remapIdentity'; readonly prefix: string; readonly signedPrefix: string };

/** Where bytes (keys, certificates) come from; files are read at evaluation time, not parse time. */
export type ByteSource =
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'paths'; readonly paths: readonly string[] }
  | { readonly kind: 'data'; readonly data: Uint8Array }
  | { readonly kind: 'datas'; readonly datas: readonly Uint8Array[] };

export type SignedByKeyType = 'GPGKeys' | 'signedByGPGKeys' | 'X509Certificates' | 'signedByX509CAs';

export interface SigstoreFulcio {
  /** Undefined only when the requirement's trustedRoot extension supplies the CAs. */
  readonly ca: (ByteSource & { readonly kind: 'path' | 'data' }) | undefined;
  /** Exactly one of oidcIssuer / oidcIssuerRegExp is set, and of subjectEmail / subjectRegExp. */
  readonly oidcIssuer: string | undefined;
  readonly subjectEmail: string | undefined;
  /** Portcullis extension: the whole OIDC issuer matches this (anchored) regular expression. */
  readonly oidcIssuerRegExp?: string;
  /** Portcullis extension: some SAN email or URI matches this (anchored) regular expression. */
  readonly subjectRegExp?: string;
}

export interface SigstorePki {
  readonly caRoots: ByteSource & { readonly kind: 'path' | 'data' };
  readonly caIntermediates: (ByteSource & { readonly kind: 'path' | 'data' }) | undefined;
  /** At least one of subjectEmail / subjectHostname is set. */
  readonly subjectEmail: string | undefined;
  readonly subjectHostname: string | undefined;
}

/** The one trust root of a sigstoreSigned requirement. */
export type SigstoreTrust =
  | { readonly kind: 'publicKeys'; readonly keys: ByteSource }
  | { readonly kind: 'fulcio'; readonly fulcio: SigstoreFulcio }
  | { readonly kind: 'pki'; readonly pki: SigstorePki };

export type PolicyRequirement =
  | { readonly type: 'insecureAcceptAnything' }
  | { readonly type: 'reject' }
  | {
      readonly type: 'signedBy';
      readonly keyType: SignedByKeyType;
      /** path, paths or data (never datas). */
      readonly keys: ByteSource;
      readonly signedIdentity: SignedIdentity;
      /** Portcullis extension, see sigstoreSigned. */
      readonly acceptIndexSignatures?: boolean;
    }
  | {
      readonly type: 'sigstoreSigned';
      readonly trust: SigstoreTrust;
      /** Required with fulcio (unless trustedRoot has tlogs), forbidden with pki, optional with public keys. */
      readonly rekorPublicKeys: ByteSource | undefined;
      readonly signedIdentity: SignedIdentity;
      /**
       * Portcullis extension (`trustedRootPath` / `trustedRootData`): an offline sigstore
       * trusted_root.json supplying Fulcio CAs and Rekor keys; needed to verify bundles.
       */
      readonly trustedRoot?: ByteSource & { readonly kind: 'path' | 'data' };
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
  /** Parses, but (as upstream) evaluation always rejects. */
  | { readonly type: 'signedBaseLayer'; readonly baseLayerIdentity: SignedIdentity }
  /**
   * Portcullis extension: an in-toto attestation of `predicateType` about the image's digest,
   * signed as a sigstoreSigned requirement's trust says, for which every condition holds.
   */
  | {
      readonly type: 'sigstoreAttested';
      readonly trust: SigstoreTrust;
      readonly rekorPublicKeys: ByteSource | undefined;
      readonly trustedRoot?: ByteSource & { readonly kind: 'path' | 'data' };
      readonly predicateType: string;
      /** CEL expressions, compiled when the policy is parsed; all must hold. */
      readonly conditions: readonly CompiledCondition[];
    }
  /**
   * Portcullis extension: a Notation (Notary Project) signature among the image's OCI 1.1
   * referrers, verified under one Notation trust policy statement.
   */
  | {
      readonly type: 'notationSigned';
      readonly trustStore: NotationTrustStore;
      readonly settings: NotationSettings;
    };

/** Certificate bundles (PEM or DER) per Notation trust store type. */
export interface NotationTrustStore {
  readonly ca: PathOrData | undefined;
  readonly signingAuthority: PathOrData | undefined;
  readonly tsa: PathOrData | undefined;
}
export type PathOrData = ByteSource & { readonly kind: 'path' | 'data' };

export type NotationSignedRequirement = Extract<PolicyRequirement, { type: 'notationSigned' }>;
export type SigstoreSignedRequirement = Extract<PolicyRequirement, { type: 'sigstoreSigned' }>;
export type SignedByRequirement = Extract<PolicyRequirement, { type: 'signedBy' }>;
export type SigstoreAttestedRequirement = Extract<PolicyRequirement, { type: 'sigstoreAttested' }>;
/** The trust fields sigstoreSigned and sigstoreAttested share. */
export type SigstoreTrustFields = Pick<
  SigstoreSignedRequirement,
  'trust' | 'rekorPublicKeys' | 'trustedRoot'
>;

/** A non-empty list: policy.json never allows an empty requirement list. */
export type PolicyRequirements = readonly [PolicyRequirement, ...PolicyRequirement[]];

export interface Policy {
  readonly default: PolicyRequirements;
  /** transport name -> scope -> requirements; "" is the transport-wide scope. */
  readonly transports: ReadonlyMap<string, ReadonlyMap<string, PolicyRequirements>>;
}

/**
 * The Portcullis extension fields a requirement uses, as policy.json spells them: a policy using
 * any of them does not load in Podman, skopeo or CRI-O (their parsers reject unknown fields).
 */
export function extensionFields(req: PolicyRequirement): string[] {
  if (req.type === 'sigstoreAttested') return ['type sigstoreAttested'];
  if (req.type === 'notationSigned') return ['type notationSigned'];
  if (req.type === 'signedBy')
    return req.acceptIndexSignatures === undefined ? [] : ['acceptIndexSignatures'];
  if (req.type !== 'sigstoreSigned') return [];
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

/** True for requirements that verify signatures (what `--require-signed` looks for). */
export function verifiesSignatures(req: PolicyRequirement): boolean {
  switch (req.type) {
    case 'signedBy':
    case 'sigstoreSigned':
    case 'sigstoreAttested':
      return true;
    case 'notationSigned':
      return req.settings.level !== 'skip';
    case 'insecureAcceptAnything':
    case 'reject':
    case 'signedBaseLayer':
      return false;
    default:
      return false;
  }
}

function sourcePaths(source: ByteSource | undefined): readonly string[] {
  if (source === undefined) return [];
  if (source.kind === 'path') return [source.path];
  return source.kind === 'paths' ? source.paths : [];
}

/**
 * Every file the policy's requirements read at evaluation time (keys, CAs, Rekor keys), for
 * callers that watch them or hash them into a cache key. Sorted, without duplicates.
 */
export function policyFilePaths(policy: Policy): string[] {
  const paths = new Set<string>();
  const visit = (reqs: PolicyRequirements) => {
    for (const req of reqs) {
      let found: readonly string[] = [];
      if (req.type === 'signedBy') found = sourcePaths(req.keys);
      else if (req.type === 'sigstoreSigned' || req.type === 'sigstoreAttested') {
        const t = req.trust;
        const trust =
          t.kind === 'publicKeys'
            ? sourcePaths(t.keys)
            : t.kind === 'fulcio'
              ? sourcePaths(t.fulcio.ca)
              : [...sourcePaths(t.pki.caRoots), ...sourcePaths(t.pki.caIntermediates)];
        found = [...trust, ...sourcePaths(req.rekorPublicKeys), ...sourcePaths(req.trustedRoot)];
      } else if (req.type === 'notationSigned') {
        const t = req.trustStore;
        found = [...sourcePaths(t.ca), ...sourcePaths(t.signingAuthority), ...sourcePaths(t.tsa)];
      }
      for (const p of found) paths.add(p);
    }
  };
  visit(policy.default);
  for (const scopes of policy.transports.values()) for (const reqs of scopes.values()) visit(reqs);
  return [...paths].sort();
}
