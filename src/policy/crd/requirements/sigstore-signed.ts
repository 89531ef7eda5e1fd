// sigstoreSigned in a policy CRD: public keys, Rekor keys and a trusted root on the requirement,
// CA certificates in its fulcio or pki member.
import type { SigstoreSignedRequirement, SigstoreTrustFields } from '../../../image/index.ts';
import {
  type CrdRequirementType,
  type InlineKeyLoaders,
  inlineBytes,
  type KeySourceFields,
} from './types.ts';

/** The sigstore trust fields' key sources (sigstoreAttested has them too). */
export const sigstoreKeySources: KeySourceFields = {
  bases: ['key', 'rekorPublicKey', 'ca', 'caRoots', 'caIntermediates', 'trustedRoot'],
  nested: ['fulcio', 'pki'],
  dataLists: true,
};

/** Parses the public keys and Rekor keys sigstore trust fields hold inline. */
export async function loadSigstoreKeys(
  req: SigstoreTrustFields,
  field: string,
  loaders: InlineKeyLoaders,
): Promise<void> {
  const keys = req.trust.kind === 'publicKeys' ? inlineBytes(req.trust.keys) : [];
  for (const k of keys) loaders.sigstore(Buffer.from(k).toString('utf8'), `${field}.key`);
  for (const k of inlineBytes(req.rekorPublicKeys))
    loaders.sigstore(Buffer.from(k).toString('utf8'), `${field}.rekorPublicKey`);
}

export const sigstoreSignedCrd: CrdRequirementType<SigstoreSignedRequirement> = {
  name: 'sigstoreSigned',
  keySources: sigstoreKeySources,
  loadInlineKeys: loadSigstoreKeys,
};
