// signedBy in a policy CRD: one keyring (keyData, or a reference to one).
import type { SignedByRequirement } from '../../../image/index.ts';
import { type CrdRequirementType, inlineBytes } from './types.ts';

export const signedByCrd: CrdRequirementType<SignedByRequirement> = {
  name: 'signedBy',
  // signedBy has no keyDatas: one keyring must hold every key.
  keySources: { bases: ['key'], nested: [], dataLists: false },
  async loadInlineKeys(req, _field, loaders) {
    const keys = inlineBytes(req.keys);
    if (keys.length > 0) await loaders.gpg(keys);
  },
};
