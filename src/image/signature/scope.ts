// Scope lookup (upstream PolicyContext.requirementsForImageRef): only the most specific match applies.
import type { ImageReference } from '../types.ts';
import type { Policy, PolicyRequirements } from './policy-types.ts';

export interface ScopeMatch {
  /** The transport section consulted, or undefined when the policy has none for this transport. */
  readonly transport: string | undefined;
  /** The matched scope key ("" = transport-wide), or undefined for the global default. */
  readonly scope: string | undefined;
  readonly requirements: PolicyRequirements;
}

/** identity, then each namespace (most specific first), then the transport's "", then default. */
export function requirementsForImage(policy: Policy, ref: ImageReference): ScopeMatch {
  const transportName = ref.transport.name;
  const scopes = policy.transports.get(transportName);
  if (scopes !== undefined) {
    for (const scope of [ref.policyConfigurationIdentity(), ...ref.policyConfigurationNamespaces(), '']) {
      const requirements = scopes.get(scope);
      if (requirements !== undefined) return { transport: transportName, scope, requirements };
    }
  }
  return { transport: undefined, scope: undefined, requirements: policy.default };
}
