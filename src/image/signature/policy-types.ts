// The policy.json model (containers-policy.json(5)): plain data, discriminated by `type`. Each
// requirement type's shape is declared by its module in requirements/.
import type { InsecureAcceptAnythingRequirement } from './requirements/insecure-accept-anything.ts';
import type { NotationSignedRequirement } from './requirements/notation-signed.ts';
import type { RejectRequirement } from './requirements/reject.ts';
import type { SignedBaseLayerRequirement } from './requirements/signed-base-layer.ts';
import type { SignedByRequirement } from './requirements/signed-by.ts';
import type { SigstoreAttestedRequirement } from './requirements/sigstore-attested.ts';
import type { SigstoreSignedRequirement } from './requirements/sigstore-signed.ts';

export type { InsecureAcceptAnythingRequirement } from './requirements/insecure-accept-anything.ts';
export type { NotationSignedRequirement, NotationTrustStore } from './requirements/notation-signed.ts';
export type { RejectRequirement } from './requirements/reject.ts';
export type { SignedBaseLayerRequirement } from './requirements/signed-base-layer.ts';
export type { SignedByKeyType, SignedByRequirement } from './requirements/signed-by.ts';
export type { SigstoreAttestedRequirement } from './requirements/sigstore-attested.ts';
export type {
  SigstoreFulcio,
  SigstorePki,
  SigstoreSignedRequirement,
  SigstoreTrustFields,
  SigstoreTrustRoot,
} from './requirements/sigstore-signed.ts';

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

/** A source of one file or one inline value. */
export type PathOrData = ByteSource & { readonly kind: 'path' | 'data' };

/** One requirement of a scope: one member per module of requirements/. */
export type PolicyRequirement =
  | InsecureAcceptAnythingRequirement
  | RejectRequirement
  | SignedByRequirement
  | SigstoreSignedRequirement
  | SignedBaseLayerRequirement
  | SigstoreAttestedRequirement
  | NotationSignedRequirement;

/** A non-empty list: policy.json never allows an empty requirement list. */
export type PolicyRequirements = readonly [PolicyRequirement, ...PolicyRequirement[]];

export interface Policy {
  readonly default: PolicyRequirements;
  /** transport name -> scope -> requirements; "" is the transport-wide scope. */
  readonly transports: ReadonlyMap<string, ReadonlyMap<string, PolicyRequirements>>;
}
