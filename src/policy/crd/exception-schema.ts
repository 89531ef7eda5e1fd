// The ImageTrustException CustomResourceDefinition (charts/portcullis/crds/imagetrustexceptions.yaml
// is this output; a test checks). CEL refuses at apply time an exception without a reason, an
// owner or an expiry, one granted for longer than MAX_EXCEPTION_DAYS, and any later change of
// its expiry: a longer grant takes a new object, created by someone allowed to.
import { EXCEPTION_KIND, EXCEPTION_PLURAL, MAX_EXCEPTION_DAYS, MAX_EXCEPTION_IMAGES } from '../exceptions.ts';
import { POLICY_GROUP, POLICY_VERSION } from './types.ts';

const MAX_HOURS = MAX_EXCEPTION_DAYS * 24;
const DIGEST_PATTERN = '^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$';
const DURATION_PATTERN = '^([0-9]+(h|m|s))+$';

export function exceptionCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${EXCEPTION_PLURAL}.${POLICY_GROUP}` },
    spec: {
      group: POLICY_GROUP,
      names: {
        kind: EXCEPTION_KIND,
        listKind: `${EXCEPTION_KIND}List`,
        plural: EXCEPTION_PLURAL,
        singular: EXCEPTION_KIND.toLowerCase(),
        shortNames: ['itx'],
        categories: ['portcullis'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: POLICY_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Owner', type: 'string', jsonPath: '.spec.owner' },
            { name: 'Expires', type: 'string', jsonPath: '.status.expiresAt' },
            { name: 'State', type: 'string', jsonPath: '.status.state' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `Break-glass: images of this namespace admitted without signature verification, with a warning, for at most ${MAX_EXCEPTION_DAYS} days after creation.`,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: {
                  type: 'object',
                  required: ['images', 'reason', 'owner', 'expiresAfter'],
                  properties: {
                    images: {
                      type: 'array',
                      minItems: 1,
                      maxItems: MAX_EXCEPTION_IMAGES,
                      description: 'The images covered, as policy.json docker scopes.',
                      items: {
                        type: 'object',
                        required: ['scope'],
                        properties: {
                          scope: {
                            type: 'string',
                            minLength: 1,
                            maxLength: 512,
                            pattern: '^[^\\s]+$',
                            description:
                              'host[:port], host/namespace, host/repository, host/repository:tag or *.domain, as policy.json docker scopes.',
                          },
                          digest: {
                            type: 'string',
                            maxLength: 256,
                            pattern: DIGEST_PATTERN,
                            description: 'Only pods naming this digest (image@digest) are covered.',
                          },
                        },
                      },
                    },
                    reason: { type: 'string', minLength: 1, maxLength: 1024 },
                    owner: {
                      type: 'string',
                      minLength: 1,
                      maxLength: 256,
                      description: 'Who answers for this exception (a person or a team).',
                    },
                    expiresAfter: {
                      type: 'string',
                      maxLength: 32,
                      pattern: DURATION_PATTERN,
                      description: `How long after creation the exception holds: a duration such as 72h, at most ${MAX_HOURS}h. It cannot be changed later.`,
                      'x-kubernetes-validations': [
                        {
                          rule: `duration(self) > duration('0s') && duration(self) <= duration('${MAX_HOURS}h')`,
                          message: `expiresAfter must be more than 0s and at most ${MAX_HOURS}h (${MAX_EXCEPTION_DAYS} days)`,
                          reason: 'FieldValueInvalid',
                        },
                        {
                          rule: 'self == oldSelf',
                          message: 'expiresAfter cannot be changed: create a new exception',
                          reason: 'FieldValueForbidden',
                        },
                      ],
                    },
                  },
                },
                status: {
                  type: 'object',
                  properties: {
                    state: { type: 'string', enum: ['Active', 'Expired', 'Invalid'] },
                    expiresAt: { type: 'string', format: 'date-time' },
                    message: { type: 'string', maxLength: 1024 },
                    observedGeneration: { type: 'integer' },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}
