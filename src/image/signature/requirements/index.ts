// The registry of policy requirement types: one module per type in this folder. The mapped type
// makes it exhaustive: a type added to PolicyRequirement without its module here fails to compile.
import { invalidValue, type JsonNode, ObjectReader, readType } from '../json.ts';
import type { Policy, PolicyRequirement, PolicyRequirements } from '../policy-types.ts';
import { insecureAcceptAnything } from './insecure-accept-anything.ts';
import { notationSigned } from './notation-signed.ts';
import { reject } from './reject.ts';
import { signedBaseLayer } from './signed-base-layer.ts';
import { signedBy } from './signed-by.ts';
import { sigstoreAttested } from './sigstore-attested.ts';
import { sigstoreSigned } from './sigstore-signed.ts';
import type { RequirementType } from './types.ts';

export type RequirementTypes = {
  readonly [K in PolicyRequirement['type']]: RequirementType<Extract<PolicyRequirement, { type: K }>>;
};

/** Every requirement type, in the order error messages list them. */
export const requirementTypes: RequirementTypes = {
  insecureAcceptAnything,
  reject,
  signedBy,
  signedBaseLayer,
  sigstoreSigned,
  sigstoreAttested,
  notationSigned,
};

const unknownReason = 'unknown policy requirement type';

/**
 * Stands in for a type no module implements (a requirement that did not come through the
 * parser): evaluation denies it, and it counts as rejecting, never as verifying.
 */
const unknownType: RequirementType<PolicyRequirement> = {
  name: 'reject',
  parse(obj) {
    throw invalidValue(obj.node, unknownReason);
  },
  decideWithoutImage: () => ({ allowed: false, code: 'EVALUATION_FAILED', reason: unknownReason }),
  evaluate: async () => ({ allowed: false, code: 'EVALUATION_FAILED', reason: unknownReason }),
  policyOnly: false,
  readsSigstoreSignatures: false,
  strength: () => 'rejects',
  extensionFields: () => [],
  lint: () => [],
  files: () => [],
};

/** The module of `req`'s type. */
export function requirementType<R extends PolicyRequirement>(req: R): RequirementType<R> {
  const found = Object.hasOwn(requirementTypes, req.type)
    ? (requirementTypes[req.type] as unknown as RequirementType<R>)
    : undefined;
  return found ?? (unknownType as RequirementType<R>);
}

/** Parses one policy requirement object; throws JsonError (code JSON_*) with its location. */
export function parseRequirement(node: JsonNode): PolicyRequirement {
  const obj = new ObjectReader(node, 'a policy requirement object');
  const name = readType(obj, Object.keys(requirementTypes), 'policy requirement');
  return requirementTypes[name as PolicyRequirement['type']].parse(obj);
}

/** True for requirements that verify signatures (what `--require-signed` looks for). */
export function verifiesSignatures(req: PolicyRequirement): boolean {
  return requirementType(req).strength(req) === 'verifies';
}

/** True when every requirement's outcome is fixed by the policy alone (see RequirementType.policyOnly). */
export function decidedByPolicyAlone(requirements: PolicyRequirements): boolean {
  return requirements.every((r) => requirementType(r).policyOnly);
}

/** True when some requirement checks sigstore signatures (their attachments are then fetched). */
export function readsSigstoreSignatures(requirements: PolicyRequirements): boolean {
  return requirements.some((r) => requirementType(r).readsSigstoreSignatures);
}

/**
 * Every file the policy's requirements read at evaluation time (keys, CAs, Rekor keys), for
 * callers that watch them or hash them into a cache key. Sorted, without duplicates.
 */
export function policyFilePaths(policy: Policy): string[] {
  const paths = new Set<string>();
  const visit = (reqs: PolicyRequirements) => {
    for (const req of reqs) for (const p of requirementType(req).files(req)) paths.add(p);
  };
  visit(policy.default);
  for (const scopes of policy.transports.values()) for (const reqs of scopes.values()) visit(reqs);
  return [...paths].sort();
}
