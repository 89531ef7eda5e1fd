// signedBy in a policy CRD: one keyring (keyData, or a reference to one) and its keyType.
import type { SignedByRequirement } from '../../../image/index.ts';
import { count, KEY_FIELDS, keyMembers, requiredFor, signedIdentityMembers } from './schema-fragments.ts';
import { type CrdMembers, type CrdRequirementType, inlineBytes } from './types.ts';

export const keyTypeMembers: CrdMembers = {
  properties: {
    keyType: {
      type: 'string',
      enum: ['GPGKeys', 'signedByGPGKeys', 'X509Certificates', 'signedByX509CAs'],
    },
  },
  forOthers: requiredFor(),
};

export const signedByCrd: CrdRequirementType<SignedByRequirement> = {
  name: 'signedBy',
  // signedBy has no keyDatas: one keyring must hold every key.
  keySources: { bases: ['key'], nested: [], dataLists: false },
  schema: {
    members: [keyTypeMembers, keyMembers, signedIdentityMembers],
    rules: [
      {
        rule: `self.type != 'signedBy' || ${count(KEY_FIELDS)} == 1`,
        message: 'signedBy needs exactly one of keyData, keySecretRef, keyConfigMapRef',
      },
    ],
  },
  async loadInlineKeys(req, _field, loaders) {
    const keys = inlineBytes(req.keys);
    if (keys.length > 0) await loaders.gpg(keys);
  },
};
