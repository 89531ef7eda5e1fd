// Which policy.json scope keys each known transport accepts. Upstream asks the transport
// objects; the transports live in their own modules, so the same rules are kept here as a table
// by transport name (used when no TransportRegistry is given, and for transports it lacks).
import { posix } from 'node:path';
import { isDigest } from '../digest.ts';
import type { ImageTransport } from '../types.ts';

/** Returns undefined when `scope` is acceptable, else the reason it is not. */
export type ScopeValidator = (scope: string) => string | undefined;

/** Go's filepath.Clean for absolute POSIX paths. */
function cleanPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function absoluteCleanPath(scope: string): string | undefined {
  if (!scope.startsWith('/')) return `invalid scope ${scope}: must be an absolute path`;
  if (scope === '/') return 'invalid scope "/": use the generic default scope ""';
  const cleaned = cleanPath(scope);
  if (cleaned !== scope) return `invalid scope ${scope}: uses non-canonical format, perhaps try ${cleaned}`;
  return undefined;
}

function onlyDefaultScope(transport: string): ScopeValidator {
  return () => `${transport}: does not support any scopes except the default "" one`;
}

const atomicScope = /^[^/]*(\/[^:/]*(\/[^:/]*(:[^:/]*)?)?)?$/;
const imageId = /^[a-f0-9]{64}$/;

/** Upstream storage transport: `[driver@/graph/root]` or `[/graph/root]`, then an optional name[@digest][@id]. */
function storageScope(scope: string): string | undefined {
  const close = scope.indexOf(']');
  if (!scope.startsWith('[') || close < 1) return `invalid scope ${scope}: expected a [store] prefix`;
  const store = scope.slice(1, close);
  const at = store.indexOf('@');
  const root = at < 0 ? store : store.slice(at + 1);
  if (at === 0 || root === '') return `invalid scope ${scope}: invalid store specification`;
  if (!root.startsWith('/')) return `invalid scope ${scope}: the graph root must be an absolute path`;
  const fields = scope.slice(close + 1).split('@');
  if (fields.length > 3) return `invalid scope ${scope}: too many @ separators`;
  if (fields.length === 2 && !imageId.test(fields[1]!) && !isDigest(fields[1]!)) {
    return `invalid scope ${scope}: ${fields[1]} is neither a valid digest nor a valid ID`;
  }
  if (fields.length === 3 && (!isDigest(fields[1]!) || !imageId.test(fields[2]!))) {
    return `invalid scope ${scope}: expected name@digest@id`;
  }
  return undefined;
}

/** Upstream's ValidatePolicyConfigurationScope of each transport containers/image registers. */
export const knownScopeValidators: ReadonlyMap<string, ScopeValidator> = new Map<string, ScopeValidator>([
  ['docker', () => undefined],
  ['dir', absoluteCleanPath],
  ['oci', absoluteCleanPath],
  ['oci-archive', absoluteCleanPath],
  ['sif', absoluteCleanPath],
  ['docker-archive', onlyDefaultScope('docker-archive')],
  ['tarball', onlyDefaultScope('tarball')],
  [
    'docker-daemon',
    (scope) =>
      isDigest(scope) ? `docker-daemon: can not use algo:digest value ${scope} as a namespace` : undefined,
  ],
  ['atomic', (scope) => (atomicScope.test(scope) ? undefined : `invalid scope name ${scope}`)],
  ['containers-storage', storageScope],
]);

/** Lookup of transports by name, as TransportRegistry provides. */
export interface TransportLookup {
  get(name: string): ImageTransport | undefined;
}

/**
 * The validator for `transportName`: the registered transport's own when `transports` has it,
 * else the table's; undefined for unknown transports, whose scopes upstream stores unchecked.
 */
export function scopeValidatorFor(
  transportName: string,
  transports: TransportLookup | undefined,
): ScopeValidator | undefined {
  const transport = transports?.get(transportName);
  if (transport !== undefined) {
    return (scope) => {
      try {
        transport.validatePolicyConfigurationScope(scope);
        return undefined;
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    };
  }
  return knownScopeValidators.get(transportName);
}
