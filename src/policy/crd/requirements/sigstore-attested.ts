// sigstoreAttested in a policy CRD: the in-toto predicate type and conditions, and the sigstore
// trust fields as sigstoreSigned has them.
import type { SigstoreAttestedRequirement } from '../../../image/index.ts';
import { keyMembers, onlyFor, requiredFor, str } from './schema-fragments.ts';
import {
  loadSigstoreKeys,
  sigstoreKeySources,
  sigstoreTrustMembers,
  sigstoreTrustRules,
} from './sigstore-signed.ts';
import type { CrdRequirementType } from './types.ts';

export const sigstoreAttestedCrd: CrdRequirementType<SigstoreAttestedRequirement> = {
  name: 'sigstoreAttested',
  keySources: sigstoreKeySources,
  schema: {
    members: [
      {
        properties: {
          predicateType: {
            ...str(1024),
            minLength: 1,
            description:
              'sigstoreAttested (Portcullis extension, not portable to Podman): the in-toto predicate type required, e.g. https://slsa.dev/provenance/v1.',
          },
        },
        forOthers: requiredFor(),
      },
      {
        properties: {
          conditions: {
            type: 'array',
            maxItems: 64,
            items: { type: 'string', maxLength: 4096 },
            description:
              'sigstoreAttested: CEL expressions over predicate, subject, predicateType, reference and digest; all must hold for one verified attestation. A condition that does not compile makes the policy Invalid, with the expression and its position.',
          },
        },
        forOthers: onlyFor({ label: 'conditions are', pointAt: true }),
      },
      keyMembers,
      sigstoreTrustMembers,
    ],
    rules: sigstoreTrustRules,
  },
  loadInlineKeys: loadSigstoreKeys,
};
