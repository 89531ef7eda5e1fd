// sigstoreSigned in a policy CRD: public keys, Rekor keys and a trusted root on the requirement,
// CA certificates in its fulcio or pki member.
import type { SigstoreSignedRequirement } from '../../../image/index.ts';
import { type CrdRequirementType, inlineBytes } from './types.ts';

export const sigstoreSignedCrd: CrdRequirementType<SigstoreSignedRequirement> = {
  name: 'sigstoreSigned',
  keySources: {
    bases: ['key', 'rekorPublicKey', 'ca', 'caRoots', 'caIntermediates', 'trustedRoot'],
    nested: ['fulcio', 'pki'],
    dataLists: true,
  },
  async loadInlineKeys(req, field, loaders) {
    const keys = req.trust.kind === 'publicKeys' ? inlineBytes(req.trust.keys) : [];
    for (const k of keys) loaders.sigstore(Buffer.from(k).toString('utf8'), `${field}.key`);
    for (const k of inlineBytes(req.rekorPublicKeys))
      loaders.sigstore(Buffer.from(k).toString('utf8'), `${field}.rekorPublicKey`);
  },
};
