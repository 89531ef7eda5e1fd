// reject in a policy CRD: no members beside its type, no keys.
import type { RejectRequirement } from '../../../image/index.ts';
import type { CrdRequirementType } from './types.ts';

export const rejectCrd: CrdRequirementType<RejectRequirement> = {
  name: 'reject',
  keySources: { bases: [], nested: [], dataLists: false },
  schema: { members: [], rules: [] },
  loadInlineKeys: async () => {},
};
