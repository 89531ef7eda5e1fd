// The two CustomResourceDefinitions, generated from one requirement schema so the cluster and
// namespaced kinds can never drift. charts/portcullis/crds/*.yaml are this output (a test checks).
// The CEL rules refuse at `kubectl apply` time what the policy parser would refuse later, never
// more: a policy the parser accepts must be accepted by the API server too.
import { POLICY_GROUP, POLICY_VERSION, type PolicyKind } from './types.ts';

type Schema = Record<string, unknown>;

interface Rule {
  readonly rule: string;
  readonly message: string;
  readonly fieldPath?: string;
  readonly reason?:
    | 'FieldValueInvalid'
    | 'FieldValueRequired'
    | 'FieldValueForbidden'
    | 'FieldValueDuplicate';
}

/** Caps keep CEL cost estimates bounded; they are far above any real policy. */
const MAX_KEY_BYTES = 65536;
const MAX_NAME = 253;
const MAX_REQUIREMENTS = 16;
const MAX_SCOPES = 256;
const MAX_TRANSPORTS = 8;

const str = (maxLength = MAX_NAME): Schema => ({ type: 'string', maxLength });
// Standard base64 by pattern, not `format: byte`: kube-apiserver 1.36 refuses values with `+` or `/`
// while evaluating the CEL rules over byte-formatted fields, and real keys almost always hold them.
// CR and LF may stand anywhere (line-wrapped `base64` output), as the policy parser and Go allow.
const B64 = '[\\r\\n]*[A-Za-z0-9+/]';
const PAD = '[\\r\\n]*=';
const BASE64_PATTERN = `^(?:(?:${B64}){4})*(?:(?:${B64}){2}${PAD}${PAD}|(?:${B64}){3}${PAD})?[\\r\\n]*$`;
const base64 = (): Schema => ({ type: 'string', pattern: BASE64_PATTERN, maxLength: MAX_KEY_BYTES });
const base64List = (): Schema => ({ type: 'array', maxItems: 16, items: base64() });

const keyRef = (what: string): Schema => ({
  type: 'object',
  description: `A key of a ${what} holding the bytes (the policy's namespace for ImagePolicy, the controller's for ClusterImagePolicy).`,
  required: ['name', 'key'],
  properties: { name: { ...str(), minLength: 1 }, key: { ...str(), minLength: 1 } },
});

const has = (f: string) => `has(self.${f})`;
const count = (fields: readonly string[]) => `(${fields.map((f) => `(${has(f)} ? 1 : 0)`).join(' + ')})`;
const none = (fields: readonly string[]) => fields.map((f) => `!${has(f)}`).join(' && ');

/** `<base>Data` plus its Secret/ConfigMap reference alternatives. */
function keySources(base: string, what: string): Schema {
  return {
    [`${base}Data`]: { ...base64(), description: `${what}, base64.` },
    [`${base}SecretRef`]: keyRef('Secret'),
    [`${base}ConfigMapRef`]: keyRef('ConfigMap'),
  };
}
const sourceFields = (base: string) => [`${base}Data`, `${base}SecretRef`, `${base}ConfigMapRef`];

const identityRules: Rule[] = [
  {
    rule: `(self.type == 'exactReference') == has(self.dockerReference)`,
    message: 'dockerReference is required for exactReference and forbidden for other types',
    fieldPath: '.dockerReference',
  },
  {
    rule: `(self.type == 'exactRepository') == has(self.dockerRepository)`,
    message: 'dockerRepository is required for exactRepository and forbidden for other types',
    fieldPath: '.dockerRepository',
  },
  {
    rule: `(self.type == 'remapIdentity') == has(self.prefix) && (self.type == 'remapIdentity') == has(self.signedPrefix)`,
    message: 'prefix and signedPrefix are required for remapIdentity and forbidden for other types',
    fieldPath: '.prefix',
  },
];

/**
 * Nullable so an explicit null is stored rather than dropped: policy.json refuses it, and CEL cannot
 * see a null, so the controller's parser refuses it (status Invalid) instead of reading "absent".
 */
const identity = (): Schema => ({
  type: 'object',
  nullable: true,
  required: ['type'],
  properties: {
    type: {
      type: 'string',
      enum: [
        'matchExact',
        'matchRepoDigestOrExact',
        'matchRepository',
        'exactReference',
        'exactRepository',
        'remapIdentity',
      ],
    },
    dockerReference: { ...str(), minLength: 1 },
    dockerRepository: { ...str(), minLength: 1 },
    prefix: str(),
    signedPrefix: str(),
  },
  'x-kubernetes-validations': identityRules,
});

const KEY = ['keyData', 'keySecretRef', 'keyConfigMapRef'];
const REKOR = [
  'rekorPublicKeyData',
  'rekorPublicKeyDatas',
  'rekorPublicKeySecretRef',
  'rekorPublicKeyConfigMapRef',
];
/** Portcullis extension: an offline sigstore trusted_root.json. */
const TRUSTED_ROOT = ['trustedRootData', 'trustedRootSecretRef', 'trustedRootConfigMapRef'];
const FULCIO_CA = ['fulcio.caData', 'fulcio.caSecretRef', 'fulcio.caConfigMapRef'];
/** The trust fields sigstoreSigned and sigstoreAttested share. */
const SIGSTORE_TRUST = ['keyDatas', 'fulcio', 'pki', ...REKOR, ...TRUSTED_ROOT];
const SIGSTORE_TYPES = `self.type in ['sigstoreSigned', 'sigstoreAttested']`;
/** Portcullis extension: the trust store types of a Notation trust policy statement. */
const NOTATION_STORES = ['ca', 'signingAuthority', 'tsa'];
const notationTrusted = [...sourceFields('ca'), ...sourceFields('signingAuthority')].map(
  (f) => `trustStore.${f}`,
);

const requirementRules: Rule[] = [
  {
    rule: `(self.type == 'signedBy') == has(self.keyType)`,
    message: 'keyType is required for signedBy and forbidden for other types',
    fieldPath: '.keyType',
  },
  {
    rule: `self.type != 'signedBy' || ${count(KEY)} == 1`,
    message: 'signedBy needs exactly one of keyData, keySecretRef, keyConfigMapRef',
  },
  {
    rule: `!(${SIGSTORE_TYPES}) || ${count([...KEY, 'keyDatas', 'fulcio', 'pki'])} == 1`,
    message:
      'sigstoreSigned and sigstoreAttested need exactly one of keyData, keyDatas, keySecretRef, keyConfigMapRef, fulcio, pki',
  },
  {
    rule: `${SIGSTORE_TYPES} || (${none(SIGSTORE_TRUST)})`,
    message:
      'keyDatas, fulcio, pki, rekorPublicKey* and trustedRoot* are only for sigstoreSigned and sigstoreAttested',
  },
  {
    rule: `self.type == 'sigstoreSigned' || !has(self.acceptDigestOnlySignatures)`,
    message: 'acceptDigestOnlySignatures is only for sigstoreSigned',
  },
  {
    rule: `self.type in ['signedBy', 'sigstoreSigned', 'sigstoreAttested'] || (${none(KEY)})`,
    message: 'keys are only for signedBy, sigstoreSigned and sigstoreAttested',
  },
  {
    rule: `self.type in ['signedBy', 'sigstoreSigned'] || (${none(['signedIdentity', 'acceptIndexSignatures'])})`,
    message: 'signedIdentity and acceptIndexSignatures are only for signedBy and sigstoreSigned',
  },
  {
    rule: `(self.type == 'sigstoreAttested') == has(self.predicateType)`,
    message: 'predicateType is required for sigstoreAttested and forbidden for other types',
    fieldPath: '.predicateType',
  },
  {
    rule: `self.type == 'sigstoreAttested' || !has(self.conditions)`,
    message: 'conditions are only for sigstoreAttested',
    fieldPath: '.conditions',
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
  {
    rule: `(self.type == 'notationSigned') == (has(self.trustedIdentities) && has(self.signatureVerification))`,
    message:
      'trustedIdentities and signatureVerification are required for notationSigned and forbidden for other types',
  },
  {
    rule: `self.type == 'notationSigned' || !has(self.trustStore)`,
    message: 'trustStore is only for notationSigned',
    fieldPath: '.trustStore',
  },
  {
    rule: `self.type != 'notationSigned' || self.signatureVerification.level == 'skip' || (has(self.trustStore) && ${count(notationTrusted)} >= 1)`,
    message:
      'notationSigned needs a ca or signingAuthority certificate bundle in trustStore (unless its level is skip)',
  },
  {
    rule: `self.type != 'notationSigned' || (${none(['keyType', ...KEY, ...SIGSTORE_TRUST, 'acceptDigestOnlySignatures', 'signedIdentity', 'acceptIndexSignatures'])})`,
    message: 'notationSigned takes only trustStore, trustedIdentities and signatureVerification',
  },
  {
    rule: `(self.type == 'signedBaseLayer') == has(self.baseLayerIdentity)`,
    message: 'baseLayerIdentity is required for signedBaseLayer and forbidden for other types',
    fieldPath: '.baseLayerIdentity',
  },
];

const enforceOrLog = (extra: string[] = []): Schema => ({
  type: 'string',
  enum: ['enforce', 'log', ...extra],
});

/** notationSigned (Portcullis extension, not portable to Podman): a Notation trust policy statement. */
function notationFields(): Schema {
  return {
    trustStore: {
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
    },
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
}

function requirement(): Schema {
  return {
    type: 'object',
    description:
      'One containers-policy.json(5) requirement; file paths are replaced by Data fields and Secret/ConfigMap references.',
    required: ['type'],
    properties: {
      type: {
        type: 'string',
        enum: [
          'insecureAcceptAnything',
          'reject',
          'signedBy',
          'sigstoreSigned',
          'signedBaseLayer',
          'sigstoreAttested',
          'notationSigned',
        ],
      },
      predicateType: {
        ...str(1024),
        minLength: 1,
        description:
          'sigstoreAttested (Portcullis extension, not portable to Podman): the in-toto predicate type required, e.g. https://slsa.dev/provenance/v1.',
      },
      conditions: {
        type: 'array',
        maxItems: 64,
        items: { type: 'string', maxLength: 4096 },
        description:
          'sigstoreAttested: CEL expressions over predicate, subject, predicateType, reference and digest; all must hold for one verified attestation. A condition that does not compile makes the policy Invalid, with the expression and its position.',
      },
      keyType: {
        type: 'string',
        enum: ['GPGKeys', 'signedByGPGKeys', 'X509Certificates', 'signedByX509CAs'],
      },
      ...keySources('key', 'The public key or GPG keyring'),
      keyDatas: {
        ...base64List(),
        description: 'sigstoreSigned: several public keys, base64; any one may sign.',
      },
      ...keySources('rekorPublicKey', 'The Rekor public key'),
      rekorPublicKeyDatas: base64List(),
      ...keySources(
        'trustedRoot',
        'Portcullis extension (not portable to Podman): a sigstore trusted_root.json, never fetched through TUF',
      ),
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
      signedIdentity: identity(),
      acceptIndexSignatures: {
        type: 'boolean',
        description:
          'Portcullis extension (not portable to Podman): for a multi-arch image, also accept a signature made on the index for the platform instance it lists.',
      },
      acceptDigestOnlySignatures: {
        type: 'boolean',
        description:
          'Portcullis extension (not portable to Podman), sigstoreSigned only, weaker than signedIdentity: also accept a signature that binds only the manifest digest and names no reference (a cosign v3 bundle), which otherwise fails the identity check.',
      },
      baseLayerIdentity: identity(),
      ...notationFields(),
    },
    'x-kubernetes-validations': requirementRules,
  };
}

const requirements = (): Schema => ({
  type: 'array',
  minItems: 1,
  maxItems: MAX_REQUIREMENTS,
  items: requirement(),
});

/** Go's filepath.Clean(s) == s for an absolute path other than "/". */
const cleanAbsolute = (s: string) =>
  `(${s}.startsWith('/') && ${s} != '/' && !${s}.endsWith('/') && !${s}.contains('//') && !${s}.contains('/./') && !${s}.contains('/../') && !${s}.endsWith('/.') && !${s}.endsWith('/..'))`;

const forTransport = (name: string, scopeOk: string) =>
  `!('${name}' in self) || self['${name}'].all(s, s == '' || ${scopeOk})`;

/** The scope checks of the transports containers/image knows; other transport names are kept unchecked, as upstream. */
const scopeRules: Rule[] = [
  ...['dir', 'oci', 'oci-archive', 'sif'].map((t) => ({
    rule: forTransport(t, cleanAbsolute('s')),
    message: `${t} scopes must be absolute, clean paths other than "/"`,
  })),
  ...['docker-archive', 'tarball'].map((t) => ({
    rule: forTransport(t, 'false'),
    message: `${t} supports only the default "" scope`,
  })),
  {
    rule: forTransport(
      'docker-daemon',
      `!s.matches('^(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$')`,
    ),
    message: 'docker-daemon scopes cannot be algo:digest values',
  },
  {
    rule: forTransport('atomic', `s.matches('^[^/]*(/[^:/]*(/[^:/]*(:[^:/]*)?)?)?$')`),
    message: 'atomic scopes must be hostname[/namespace[/repo[:tag]]]',
  },
];

const labelSelector = (): Schema => ({
  type: 'object',
  description: 'Namespaces this policy applies to (all when omitted).',
  properties: {
    matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
    matchExpressions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: str(),
          operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
          values: { type: 'array', items: str() },
        },
      },
    },
  },
  'x-kubernetes-map-type': 'atomic',
});

function spec(kind: PolicyKind): Schema {
  return {
    type: 'object',
    required: ['default'],
    properties: {
      mode: {
        type: 'string',
        enum: ['enforce', 'warn', 'audit'],
        default: 'enforce',
        description: 'enforce denies, warn admits with a warning, audit admits and records.',
      },
      ...(kind === 'ClusterImagePolicy' ? { namespaceSelector: labelSelector() } : {}),
      default: { ...requirements(), description: 'Requirements for images no transport scope matches.' },
      transports: {
        type: 'object',
        description: 'transport name -> scope -> requirements; the most specific matching scope applies.',
        maxProperties: MAX_TRANSPORTS,
        additionalProperties: {
          type: 'object',
          maxProperties: MAX_SCOPES,
          additionalProperties: requirements(),
        },
        'x-kubernetes-validations': scopeRules,
      },
    },
  };
}

const status = (): Schema => ({
  type: 'object',
  properties: {
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    activeGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    policyHash: str(64),
    conditions: {
      type: 'array',
      maxItems: 8,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: {
        type: 'object',
        required: ['type', 'status', 'lastTransitionTime'],
        properties: {
          type: { type: 'string', enum: ['Ready', 'Invalid'] },
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          reason: str(),
          message: str(32768),
          observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
          lastTransitionTime: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
});

const NAMES: Record<PolicyKind, { plural: string; singular: string; shortNames: string[]; scope: string }> = {
  ClusterImagePolicy: {
    plural: 'clusterimagepolicies',
    singular: 'clusterimagepolicy',
    shortNames: ['cip'],
    scope: 'Cluster',
  },
  ImagePolicy: {
    plural: 'imagepolicies',
    singular: 'imagepolicy',
    shortNames: ['ipol'],
    scope: 'Namespaced',
  },
};

/** The CustomResourceDefinition object of `kind`. */
export function policyCrd(kind: PolicyKind): Schema {
  const n = NAMES[kind];
  const ready = '.status.conditions[?(@.type=="Ready")]';
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${n.plural}.${POLICY_GROUP}` },
    spec: {
      group: POLICY_GROUP,
      names: {
        kind,
        listKind: `${kind}List`,
        plural: n.plural,
        singular: n.singular,
        shortNames: n.shortNames,
        categories: ['portcullis'],
      },
      scope: n.scope,
      versions: [
        {
          name: POLICY_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
            { name: 'Ready', type: 'string', jsonPath: `${ready}.status` },
            { name: 'Reason', type: 'string', jsonPath: `${ready}.reason` },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                kind === 'ClusterImagePolicy'
                  ? 'A containers-policy.json(5) trust policy for the namespaces its selector picks.'
                  : 'A containers-policy.json(5) trust policy for the images of its namespace.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: spec(kind),
                status: status(),
              },
            },
          },
        },
      ],
    },
  };
}
