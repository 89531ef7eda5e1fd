// `insecureAcceptAnything`: every image is accepted, nothing is verified.
import type { ObjectReader } from '../json.ts';
import type { RequirementType } from './types.ts';

export interface InsecureAcceptAnythingRequirement {
  readonly type: 'insecureAcceptAnything';
}

export const insecureAcceptAnything: RequirementType<InsecureAcceptAnythingRequirement> = {
  name: 'insecureAcceptAnything',
  parse(obj: ObjectReader) {
    obj.finish(['type']);
    return { type: 'insecureAcceptAnything' };
  },
  decideWithoutImage: () => ({ allowed: true }),
  evaluate: async () => ({ allowed: true }),
  policyOnly: true,
  readsSigstoreSignatures: false,
  strength: () => 'accepts-anything',
  extensionFields: () => [],
  lint: () => [],
  files: () => [],
};
