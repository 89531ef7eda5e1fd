// Loads every key a compiled policy carries inline, so that a key that does not parse fails the
// compile (the controller then keeps the last good version) instead of failing admissions later.
// What each requirement type holds inline is its CRD module's answer (requirements/).
import type { Policy } from '../../image/index.ts';
import { crdRequirementType, type InlineKeyLoaders } from './requirements/index.ts';

export type { InlineKeyLoaders };

export async function loadInlineKeys(policy: Policy, loaders: InlineKeyLoaders): Promise<void> {
  const scopes: [string, Policy['default']][] = [['default', policy.default]];
  for (const [transport, byScope] of policy.transports) {
    for (const [scope, reqs] of byScope)
      scopes.push([`transports[${JSON.stringify(transport)}][${JSON.stringify(scope)}]`, reqs]);
  }
  for (const [at, reqs] of scopes) {
    for (const [i, req] of reqs.entries()) {
      await crdRequirementType(req.type)?.loadInlineKeys(req, `spec.${at}[${i}]`, loaders);
    }
  }
}
