// The two CustomResourceDefinitions, generated from one requirement schema so the cluster and
// namespaced kinds can never drift. charts/portcullis/crds/*.yaml are this output (a test checks).
// The CEL rules refuse at `kubectl apply` time what the policy parser would refuse later, never
// more: a policy the parser accepts must be accepted by the API server too.
import { allCrdRequirementTypes, type Rule, type Schema } from './requirements/index.ts';
import { owners, str } from './requirements/schema-fragments.ts';
import type { CrdMembers } from './requirements/types.ts';
import { POLICY_GROUP, POLICY_VERSION, type PolicyKind } from './types.ts';

/** Caps keep CEL cost estimates bounded; they are far above any real policy. */
const MAX_REQUIREMENTS = 16;
const MAX_SCOPES = 256;
const MAX_TRANSPORTS = 8;

/**
 * One object schema serves every requirement type: `type` names it, each type adds its member
 * groups and rules (src/policy/crd/requirements/<type>.ts), and each group gets the rule that
 * holds it to the types that list it.
 */
function requirement(): Schema {
  const groups = new Map<CrdMembers, string[]>();
  for (const t of allCrdRequirementTypes)
    for (const m of t.schema.members) groups.set(m, [...(groups.get(m) ?? []), t.name]);
  const properties: Record<string, Schema> = {
    type: { type: 'string', enum: allCrdRequirementTypes.map((t) => t.name) },
  };
  for (const m of groups.keys())
    for (const [name, schema] of Object.entries(m.properties)) {
      if (name in properties)
        throw new Error(`requirement member ${name} is in two member groups: share one group instead`);
      properties[name] = schema;
    }
  const forOthers = new Map(
    [...groups].map(([m, names]) => [m, m.forOthers(owners(names), Object.keys(m.properties))]),
  );
  // Each type's rules together, a shared group's or rule once, where its first type has it.
  const rules = new Set<Rule>();
  for (const t of allCrdRequirementTypes)
    for (const r of [...t.schema.members.map((m) => forOthers.get(m)!), ...t.schema.rules]) rules.add(r);
  return {
    type: 'object',
    description:
      'One containers-policy.json(5) requirement; file paths are replaced by Data fields and Secret/ConfigMap references.',
    required: ['type'],
    properties,
    'x-kubernetes-validations': [...rules],
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
