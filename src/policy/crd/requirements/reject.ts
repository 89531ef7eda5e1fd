// reject in a policy CRD: no keys.
import type { RejectRequirement } from '../../../image/index.ts';
import type { CrdRequirementType } from './types.ts';

export const rejectCrd: CrdRequirementType<RejectRequirement> = {
  name: 'reject',
  keySources: { bases: [], nested: [], dataLists: false },
  loadInlineKeys: async () => {},
};
