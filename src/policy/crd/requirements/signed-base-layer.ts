// signedBaseLayer in a policy CRD: the identity of its base layer, no keys.
import type { SignedBaseLayerRequirement } from '../../../image/index.ts';
import { identity, requiredFor } from './schema-fragments.ts';
import type { CrdRequirementType } from './types.ts';

export const signedBaseLayerCrd: CrdRequirementType<SignedBaseLayerRequirement> = {
  name: 'signedBaseLayer',
  keySources: { bases: [], nested: [], dataLists: false },
  schema: {
    members: [{ properties: { baseLayerIdentity: identity() }, forOthers: requiredFor() }],
    rules: [],
  },
  loadInlineKeys: async () => {},
};
