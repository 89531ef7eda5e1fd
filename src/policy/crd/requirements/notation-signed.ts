// notationSigned in a policy CRD: certificate bundles in its trustStore member; a trust store held
// whole inline is compiled when the CRD compiles.
import { compileNotationTrust, NotationError, type NotationSignedRequirement } from '../../../image/index.ts';
import {
  count,
  keyMembers,
  keySources,
  none,
  onlyFor,
  requiredFor,
  signedIdentityMembers,
  sourceFields,
  str,
} from './schema-fragments.ts';
import { keyTypeMembers } from './signed-by.ts';
import { acceptDigestOnlyMembers, sigstoreTrustMembers } from './sigstore-signed.ts';
import { type CrdRequirementType, inlineBytes, type Schema } from './types.ts';

/** Portcullis extension: the trust store types of a Notation trust policy statement. */
const NOTATION_STORES = ['ca', 'signingAuthority', 'tsa'];
const notationTrusted = [...sourceFields('ca'), ...sourceFields('signingAuthority')].map(
  (f) => `trustStore.${f}`,
);
/** The members of the key-based types, which a Notation statement never takes. */
const keyBased = [
  keyTypeMembers,
  keyMembers,
  sigstoreTrustMembers,
  acceptDigestOnlyMembers,
  signedIdentityMembers,
].flatMap((m) => Object.keys(m.properties));

const enforceOrLog = (extra: string[] = []): Schema => ({
  type: 'string',
  enum: ['enforce', 'log', ...extra],
});

const trustStore: Schema = {
  type: 'object',
  description:
    'notationSigned: certificate bundles (PEM or DER) of the Notation trust store types ca, signingAuthority and tsa.',
  properties: Object.fromEntries(
    NOTATION_STORES.flatMap((s) => Object.entries(keySources(s, `The ${s} certificates`))),
  ),
  'x-kubernetes-validations': NOTATION_STORES.map((s) => ({
    rule: `${count(sourceFields(s))} <= 1`,
    message: `give at most one of ${sourceFields(s).join(', ')}`,
  })),
};

/** The statement's trusted identities and verification level (both required). */
const statement: Record<string, Schema> = {
  trustedIdentities: {
    type: 'array',
    description:
      'notationSigned: "*" or x509.subject patterns (C, ST and O at least) of the signing certificate.',
    minItems: 1,
    maxItems: 64,
    items: str(1024),
  },
  signatureVerification: {
    type: 'object',
    description:
      'notationSigned: the Notation verification level, its overrides, and when timestamps are verified.',
    required: ['level'],
    properties: {
      level: { type: 'string', enum: ['strict', 'permissive', 'audit', 'skip'] },
      override: {
        type: 'object',
        properties: {
          authenticity: enforceOrLog(),
          authenticTimestamp: enforceOrLog(),
          expiry: enforceOrLog(),
          revocation: enforceOrLog(['skip']),
        },
      },
      verifyTimestamp: { type: 'string', enum: ['always', 'afterCertExpiry'] },
    },
  },
};

export const notationSignedCrd: CrdRequirementType<NotationSignedRequirement> = {
  name: 'notationSigned',
  // One bundle per store (no <base>Datas): a bundle file holds every certificate of its store.
  keySources: { bases: NOTATION_STORES, nested: ['trustStore'], dataLists: false },
  // Not portable to Podman: a Notation trust policy statement.
  schema: {
    members: [
      { properties: { trustStore }, forOthers: onlyFor({ pointAt: true }) },
      { properties: statement, forOthers: requiredFor() },
    ],
    rules: [
      {
        rule: `self.type != 'notationSigned' || self.signatureVerification.level == 'skip' || (has(self.trustStore) && ${count(notationTrusted)} >= 1)`,
        message:
          'notationSigned needs a ca or signingAuthority certificate bundle in trustStore (unless its level is skip)',
      },
      {
        rule: `self.type != 'notationSigned' || (${none(keyBased)})`,
        message: 'notationSigned takes only trustStore, trustedIdentities and signatureVerification',
      },
    ],
  },
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
