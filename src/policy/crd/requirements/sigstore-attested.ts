// sigstoreAttested in a policy CRD: the sigstore trust fields, as sigstoreSigned has them.
import type { SigstoreAttestedRequirement } from '../../../image/index.ts';
import { loadSigstoreKeys, sigstoreKeySources } from './sigstore-signed.ts';
import type { CrdRequirementType } from './types.ts';

export const sigstoreAttestedCrd: CrdRequirementType<SigstoreAttestedRequirement> = {
  name: 'sigstoreAttested',
  keySources: sigstoreKeySources,
  loadInlineKeys: loadSigstoreKeys,
};
