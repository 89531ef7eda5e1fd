// sigstoreSigned in a policy CRD: public keys, Rekor keys and a trusted root on the requirement,
// CA certificates in its fulcio or pki member.
import type { SigstoreSignedRequirement, SigstoreTrustFields } from '../../../image/index.ts';
import {
  base64List,
  count,
  KEY_FIELDS,
  keyMembers,
  keySources,
  onlyFor,
  signedIdentityMembers,
  sourceFields,
  str,
} from './schema-fragments.ts';
import {
  type CrdMembers,
  type CrdRequirementType,
  type InlineKeyLoaders,
  inlineBytes,
  type KeySourceFields,
  type Rule,
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

const REKOR = [
  'rekorPublicKeyData',
  'rekorPublicKeyDatas',
  'rekorPublicKeySecretRef',
  'rekorPublicKeyConfigMapRef',
];
/** Portcullis extension: an offline sigstore trusted_root.json. */
const TRUSTED_ROOT = sourceFields('trustedRoot');
const FULCIO_CA = sourceFields('ca').map((f) => `fulcio.${f}`);
const SIGSTORE_TYPES = `self.type in ['sigstoreSigned', 'sigstoreAttested']`;

const rekorSources = keySources('rekorPublicKey', 'The Rekor public key');

/** The trust fields sigstoreSigned and sigstoreAttested share, beside the keys signedBy has too. */
export const sigstoreTrustMembers: CrdMembers = {
  properties: {
    keyDatas: {
      ...base64List(),
      description: 'sigstoreSigned: several public keys, base64; any one may sign.',
    },
    fulcio: {
      type: 'object',
      properties: {
        ...keySources('ca', 'The Fulcio CA certificates (PEM)'),
        oidcIssuer: str(1024),
        subjectEmail: str(1024),
        oidcIssuerRegExp: {
          ...str(1024),
          description: 'Portcullis extension: an anchored regular expression instead of oidcIssuer.',
        },
        subjectRegExp: {
          ...str(1024),
          description:
            'Portcullis extension: an anchored regular expression over SAN emails and URIs instead of subjectEmail.',
        },
      },
      'x-kubernetes-validations': [
        {
          rule: `${count(sourceFields('ca'))} <= 1`,
          message: 'give at most one of caData, caSecretRef, caConfigMapRef',
        },
        {
          rule: `${count(['oidcIssuer', 'oidcIssuerRegExp'])} == 1`,
          message: 'fulcio needs exactly one of oidcIssuer, oidcIssuerRegExp',
        },
        {
          rule: `${count(['subjectEmail', 'subjectRegExp'])} == 1`,
          message: 'fulcio needs exactly one of subjectEmail, subjectRegExp',
        },
      ],
    },
    pki: {
      type: 'object',
      properties: {
        ...keySources('caRoots', 'The root CA certificates (PEM)'),
        ...keySources('caIntermediates', 'The intermediate CA certificates (PEM)'),
        subjectEmail: str(1024),
        subjectHostname: str(1024),
      },
      'x-kubernetes-validations': [
        {
          rule: `${count(sourceFields('caRoots'))} == 1`,
          message: 'pki needs exactly one of caRootsData, caRootsSecretRef, caRootsConfigMapRef',
        },
        {
          rule: `${count(sourceFields('caIntermediates'))} <= 1`,
          message:
            'give at most one of caIntermediatesData, caIntermediatesSecretRef, caIntermediatesConfigMapRef',
        },
        {
          rule: `has(self.subjectEmail) || has(self.subjectHostname)`,
          message: 'pki needs subjectEmail or subjectHostname',
        },
      ],
    },
    // rekorPublicKeyDatas beside rekorPublicKeyData, in the order the rules name them.
    rekorPublicKeyData: rekorSources.rekorPublicKeyData!,
    rekorPublicKeyDatas: base64List(),
    rekorPublicKeySecretRef: rekorSources.rekorPublicKeySecretRef!,
    rekorPublicKeyConfigMapRef: rekorSources.rekorPublicKeyConfigMapRef!,
    ...keySources(
      'trustedRoot',
      'Portcullis extension (not portable to Podman): a sigstore trusted_root.json, never fetched through TUF',
    ),
  },
  forOthers: onlyFor({ label: 'keyDatas, fulcio, pki, rekorPublicKey* and trustedRoot* are' }),
};

/** The rules over the sigstore trust fields (sigstoreAttested has them too). */
export const sigstoreTrustRules: readonly Rule[] = [
  {
    rule: `!(${SIGSTORE_TYPES}) || ${count([...KEY_FIELDS, 'keyDatas', 'fulcio', 'pki'])} == 1`,
    message:
      'sigstoreSigned and sigstoreAttested need exactly one of keyData, keyDatas, keySecretRef, keyConfigMapRef, fulcio, pki',
  },
  {
    rule: `${count(REKOR)} <= 1`,
    message:
      'give at most one of rekorPublicKeyData, rekorPublicKeyDatas, rekorPublicKeySecretRef, rekorPublicKeyConfigMapRef',
  },
  {
    rule: `${count(TRUSTED_ROOT)} <= 1`,
    message: 'give at most one of trustedRootData, trustedRootSecretRef, trustedRootConfigMapRef',
  },
  {
    rule: `!has(self.fulcio) || ${count(REKOR)} == 1 || ${count(TRUSTED_ROOT)} == 1`,
    message: 'fulcio requires a rekorPublicKey or a trustedRoot',
    fieldPath: '.fulcio',
  },
  {
    rule: `!has(self.fulcio) || ${count(FULCIO_CA)} == 1 || ${count(TRUSTED_ROOT)} == 1`,
    message: 'fulcio needs one of caData, caSecretRef, caConfigMapRef, or a trustedRoot',
    fieldPath: '.fulcio',
  },
  {
    rule: `!has(self.pki) || ${count([...REKOR, ...TRUSTED_ROOT])} == 0`,
    message: 'pki cannot be combined with a rekorPublicKey or a trustedRoot',
    fieldPath: '.pki',
  },
];

export const acceptDigestOnlyMembers: CrdMembers = {
  properties: {
    acceptDigestOnlySignatures: {
      type: 'boolean',
      description:
        'Portcullis extension (not portable to Podman), sigstoreSigned only, weaker than signedIdentity: also accept a signature that binds only the manifest digest and names no reference (a cosign v3 bundle), which otherwise fails the identity check.',
    },
  },
  forOthers: onlyFor(),
};

export const sigstoreSignedCrd: CrdRequirementType<SigstoreSignedRequirement> = {
  name: 'sigstoreSigned',
  keySources: sigstoreKeySources,
  schema: {
    members: [keyMembers, sigstoreTrustMembers, acceptDigestOnlyMembers, signedIdentityMembers],
    rules: sigstoreTrustRules,
  },
  loadInlineKeys: loadSigstoreKeys,
};
