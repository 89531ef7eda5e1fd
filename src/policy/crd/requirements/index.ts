// The registry of the CRD sides of policy requirement types, exhaustive as the signature layer's:
// a requirement type without its module here fails to compile.
import type { PolicyRequirement } from '../../../image/index.ts';
import { insecureAcceptAnythingCrd } from './insecure-accept-anything.ts';
import { notationSignedCrd } from './notation-signed.ts';
import { rejectCrd } from './reject.ts';
import { signedBaseLayerCrd } from './signed-base-layer.ts';
import { signedByCrd } from './signed-by.ts';
import { sigstoreAttestedCrd } from './sigstore-attested.ts';
import { sigstoreSignedCrd } from './sigstore-signed.ts';
import type { CrdRequirementType } from './types.ts';

type CrdRequirementTypes = {
  readonly [K in PolicyRequirement['type']]: CrdRequirementType<Extract<PolicyRequirement, { type: K }>>;
};

// In the order the CRD schema offers them.
const crdRequirementTypes: CrdRequirementTypes = {
  insecureAcceptAnything: insecureAcceptAnythingCrd,
  reject: rejectCrd,
  signedBy: signedByCrd,
  sigstoreSigned: sigstoreSignedCrd,
  signedBaseLayer: signedBaseLayerCrd,
  sigstoreAttested: sigstoreAttestedCrd,
  notationSigned: notationSignedCrd,
};

/** The CRD side of the type named `type` (untrusted text), or undefined when there is none. */
export function crdRequirementType(type: unknown): CrdRequirementType<PolicyRequirement> | undefined {
  if (typeof type !== 'string' || !Object.hasOwn(crdRequirementTypes, type)) return undefined;
  return crdRequirementTypes[type as PolicyRequirement['type']] as CrdRequirementType<PolicyRequirement>;
}

/** Every type's CRD side, in registry order. */
export const allCrdRequirementTypes = Object.values(
  crdRequirementTypes,
) as readonly CrdRequirementType<PolicyRequirement>[];

/** Every key-source base any type has, and every member that nests them. */
export const keySourceBases: readonly string[] = [
  ...new Set(allCrdRequirementTypes.flatMap((t) => t.keySources.bases)),
];
export const nestedKeySourceMembers: ReadonlySet<string> = new Set(
  allCrdRequirementTypes.flatMap((t) => t.keySources.nested),
);

export type { CrdRequirementType, InlineKeyLoaders, Rule, Schema } from './types.ts';
