// notationSigned in a policy CRD: certificate bundles in its trustStore member; a trust store held
// whole inline is compiled when the CRD compiles.
import { compileNotationTrust, NotationError, type NotationSignedRequirement } from '../../../image/index.ts';
import { type CrdRequirementType, inlineBytes } from './types.ts';

export const notationSignedCrd: CrdRequirementType<NotationSignedRequirement> = {
  name: 'notationSigned',
  // One bundle per store (no <base>Datas): a bundle file holds every certificate of its store.
  keySources: { bases: ['ca', 'signingAuthority', 'tsa'], nested: ['trustStore'], dataLists: false },
  async loadInlineKeys(req, field) {
    const s = req.trustStore;
    // Only a trust store held whole inline can be compiled now; files are read at evaluation.
    if (![s.ca, s.signingAuthority, s.tsa].every((b) => b === undefined || b.kind === 'data')) return;
    try {
      compileNotationTrust({
        ...req.settings,
        ca: inlineBytes(s.ca),
        signingAuthority: inlineBytes(s.signingAuthority),
        tsa: inlineBytes(s.tsa),
      });
    } catch (err) {
      throw new NotationError('NOTATION_TRUST_INVALID', `${field}.trustStore: ${(err as Error).message}`, {
        cause: err,
      });
    }
  },
};
