// `signedBaseLayer`: parsed with upstream's rules; as upstream, evaluation always rejects. Its
// answer would depend on the image once implemented, so it is not decided from the policy alone.
import { parseSignedIdentity } from '../identity.ts';
import type { ObjectReader } from '../json.ts';
import type { SignedIdentity } from '../policy-types.ts';
import type { Outcome, RequirementType } from './types.ts';

export interface SignedBaseLayerRequirement {
  readonly type: 'signedBaseLayer';
  readonly baseLayerIdentity: SignedIdentity;
}

const unsupported: Outcome = {
  allowed: false,
  code: 'SIGNED_BASE_LAYER_UNSUPPORTED',
  reason: 'signedBaseLayer not implemented yet!',
};

export const signedBaseLayer: RequirementType<SignedBaseLayerRequirement> = {
  name: 'signedBaseLayer',
  parse(obj: ObjectReader) {
    const identity = obj.required('baseLayerIdentity');
    obj.finish(['type', 'baseLayerIdentity']);
    return { type: 'signedBaseLayer', baseLayerIdentity: parseSignedIdentity(identity) };
  },
  decideWithoutImage: () => unsupported,
  evaluate: async () => unsupported,
  policyOnly: false,
  readsSigstoreSignatures: false,
  strength: () => 'rejects',
  extensionFields: () => [],
  lint: () => [
    {
      code: 'REQUIREMENT_ALWAYS_REJECTS',
      message: 'signedBaseLayer is not implemented and rejects every image',
    },
  ],
  files: () => [],
};
