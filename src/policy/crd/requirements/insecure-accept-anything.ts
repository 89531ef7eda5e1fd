// insecureAcceptAnything in a policy CRD: no members beside its type, no keys.
import type { InsecureAcceptAnythingRequirement } from '../../../image/index.ts';
import type { CrdRequirementType } from './types.ts';

export const insecureAcceptAnythingCrd: CrdRequirementType<InsecureAcceptAnythingRequirement> = {
  name: 'insecureAcceptAnything',
  keySources: { bases: [], nested: [], dataLists: false },
  schema: { members: [], rules: [] },
  loadInlineKeys: async () => {},
};
