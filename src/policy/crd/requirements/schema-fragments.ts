// Schema pieces several requirement types (and the policy object) share: strings, key sources,
// identity matchers, CEL helpers, and the rules that hold member groups to their owners.
import { identityTypes } from '../../../image/index.ts';
import type { CrdMembers, Owners, Rule, Schema } from './types.ts';

/** Caps keep CEL cost estimates bounded; they are far above any real policy. */
const MAX_KEY_BYTES = 65536;
const MAX_NAME = 253;

export const str = (maxLength = MAX_NAME): Schema => ({ type: 'string', maxLength });
// Standard base64 by pattern, not `format: byte`: kube-apiserver 1.36 refuses values with `+` or `/`
// while evaluating the CEL rules over byte-formatted fields, and real keys almost always hold them.
// CR and LF may stand anywhere (line-wrapped `base64` output), as the policy parser and Go allow.
const B64 = '[\\r\\n]*[A-Za-z0-9+/]';
const PAD = '[\\r\\n]*=';
const BASE64_PATTERN = `^(?:(?:${B64}){4})*(?:(?:${B64}){2}${PAD}${PAD}|(?:${B64}){3}${PAD})?[\\r\\n]*$`;
export const base64 = (): Schema => ({ type: 'string', pattern: BASE64_PATTERN, maxLength: MAX_KEY_BYTES });
export const base64List = (): Schema => ({ type: 'array', maxItems: 16, items: base64() });

const keyRef = (what: string): Schema => ({
  type: 'object',
  description: `A key of a ${what} holding the bytes (the policy's namespace for ImagePolicy, the controller's for ClusterImagePolicy).`,
  required: ['name', 'key'],
  properties: { name: { ...str(), minLength: 1 }, key: { ...str(), minLength: 1 } },
});

const has = (f: string) => `has(self.${f})`;
export const count = (fields: readonly string[]) =>
  `(${fields.map((f) => `(${has(f)} ? 1 : 0)`).join(' + ')})`;
export const none = (fields: readonly string[]) => fields.map((f) => `!${has(f)}`).join(' && ');

/** `<base>Data` plus its Secret/ConfigMap reference alternatives. */
export function keySources(base: string, what: string): Record<string, Schema> {
  return {
    [`${base}Data`]: { ...base64(), description: `${what}, base64.` },
    [`${base}SecretRef`]: keyRef('Secret'),
    [`${base}ConfigMapRef`]: keyRef('ConfigMap'),
  };
}
export const sourceFields = (base: string) => [`${base}Data`, `${base}SecretRef`, `${base}ConfigMapRef`];

/** "a", "a and b", "a, b and c". */
const andList = (words: readonly string[]) =>
  words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;

/** The owners of a member group, in registry order. */
export function owners(types: readonly string[]): Owners {
  return {
    test:
      types.length === 1
        ? `self.type == '${types[0]}'`
        : `self.type in [${types.map((t) => `'${t}'`).join(', ')}]`,
    names: andList(types),
  };
}

/**
 * Other types must not give any of the members: "<label> only for <owners>". `label` defaults to
 * the members' names with "is"/"are"; `pointAt` reports the failure at the (single) member.
 */
export const onlyFor =
  ({ label, pointAt = false }: { label?: string; pointAt?: boolean } = {}): CrdMembers['forOthers'] =>
  (o, fields) => ({
    rule: `${o.test} || ${fields.length === 1 ? none(fields) : `(${none(fields)})`}`,
    message: `${label ?? `${andList(fields)} ${fields.length === 1 ? 'is' : 'are'}`} only for ${o.names}`,
    ...(pointAt ? { fieldPath: `.${fields[0]}` } : {}),
  });

/**
 * The owners must give every member and other types must not; with several members another type
 * is refused only when it gives all of them (a part is left to the policy parser).
 */
export const requiredFor = (): CrdMembers['forOthers'] => (o, fields) => ({
  rule: `(${o.test}) == ${fields.length === 1 ? has(fields[0]!) : `(${fields.map(has).join(' && ')})`}`,
  message: `${andList(fields)} ${fields.length === 1 ? 'is' : 'are'} required for ${o.names} and forbidden for other types`,
  ...(fields.length === 1 ? { fieldPath: `.${fields[0]}` } : {}),
});

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
 * A policy.json identity matcher. Nullable so an explicit null is stored rather than dropped:
 * policy.json refuses it, and CEL cannot see a null, so the controller's parser refuses it (status
 * Invalid) instead of reading "absent".
 */
export const identity = (): Schema => ({
  type: 'object',
  nullable: true,
  required: ['type'],
  properties: {
    type: {
      type: 'string',
      enum: [...identityTypes],
    },
    dockerReference: { ...str(), minLength: 1 },
    dockerRepository: { ...str(), minLength: 1 },
    prefix: str(),
    signedPrefix: str(),
  },
  'x-kubernetes-validations': identityRules,
});

/** The public keys of signedBy and of the sigstore types. */
export const keyMembers: CrdMembers = {
  properties: keySources('key', 'The public key or GPG keyring'),
  forOthers: onlyFor({ label: 'keys are' }),
};
export const KEY_FIELDS = Object.keys(keyMembers.properties);

/** Which references a signature may name, for the types that check the signed identity. */
export const signedIdentityMembers: CrdMembers = {
  properties: {
    signedIdentity: identity(),
    acceptIndexSignatures: {
      type: 'boolean',
      description:
        'Portcullis extension (not portable to Podman): for a multi-arch image, also accept a signature made on the index for the platform instance it lists.',
    },
  },
  forOthers: onlyFor(),
};
