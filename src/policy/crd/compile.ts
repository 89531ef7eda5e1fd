// One policy object -> its policy.json text, settings and generation hash, compiled once.
import { createHash } from 'node:crypto';
import { type PolicySettings, policySettings, type RefResolver, specToPolicyJson } from './convert.ts';
import { CrdError } from './errors.ts';
import type { PolicyKind, PolicyObject } from './types.ts';

/**
 * Parses policy.json text into whatever the evaluator needs; throws (or rejects) on an invalid
 * policy. It should load every inline key so that a key that does not parse fails here, while the
 * last good version is still in force, rather than at admission time.
 */
export type PolicyCompiler<T> = (policyJson: string) => T | Promise<T>;

export interface CompiledPolicy<T> {
  readonly kind: PolicyKind;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly generation: number;
  readonly settings: PolicySettings;
  /** The policy.json text (key references resolved) the policy was compiled from. */
  readonly policyJson: string;
  /** Differs whenever the policy, its mode, its selector or any key it references differs. */
  readonly hash: string;
  readonly compiled: T;
}

/** A stable identity for policy objects: `ClusterImagePolicy/name` or `ImagePolicy/ns/name`. */
export function policyKey(kind: PolicyKind, namespace: string | undefined, name: string): string {
  return kind === 'ClusterImagePolicy' ? `${kind}/${name}` : `${kind}/${namespace ?? ''}/${name}`;
}

/**
 * Converts and compiles one policy object. Throws CrdError: CRD_INVALID and REF_* from the
 * conversion, POLICY_INVALID (with the parser's error as cause) from `compile`.
 */
export async function compilePolicyObject<T>(
  kind: PolicyKind,
  obj: PolicyObject,
  resolver: RefResolver,
  compile: PolicyCompiler<T>,
): Promise<CompiledPolicy<T>> {
  const name = obj.metadata.name ?? '';
  const namespace = kind === 'ImagePolicy' ? obj.metadata.namespace : undefined;
  const settings = policySettings(kind, obj.spec);
  const policyJson = specToPolicyJson(obj.spec, resolver);
  let compiled: T;
  try {
    compiled = await compile(policyJson);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new CrdError('POLICY_INVALID', `spec: ${detail}`, { cause: err });
  }
  const hash = createHash('sha256')
    .update(
      `${policyKey(kind, namespace, name)}\0${settings.mode}\0${JSON.stringify(settings.namespaceSelector ?? null)}\0`,
    )
    .update(policyJson)
    .digest('hex')
    .slice(0, 32);
  return {
    kind,
    namespace,
    name,
    generation: obj.metadata.generation ?? 0,
    settings,
    policyJson,
    hash,
    compiled,
  };
}
