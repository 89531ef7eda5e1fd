// signedBaseLayer in a policy CRD: no keys.
import type { SignedBaseLayerRequirement } from '../../../image/index.ts';
import type { CrdRequirementType } from './types.ts';

export const signedBaseLayerCrd: CrdRequirementType<SignedBaseLayerRequirement> = {
  name: 'signedBaseLayer',
  keySources: { bases: [], nested: [], dataLists: false },
  loadInlineKeys: async () => {},
};
