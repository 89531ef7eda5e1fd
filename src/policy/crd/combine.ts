// The policies of one mode that apply to a namespace, as one TrustPolicy: every policy must admit
// (AND), the first denial or failure in key order decides otherwise. A policy that never compiled
// is an `error` verdict for every image, so it can deny (enforce) or warn, never admit.
import { createHash } from 'node:crypto';
import type { Digest, DockerReference, InstanceSelection } from '../../image/index.ts';
import type { CheckObserver, PullCredentials, TrustPolicy, Verdict } from '../types.ts';
import type { ActivePolicy } from './source.ts';
import type { PolicyMode } from './types.ts';

function firstRefusal(verdicts: readonly (Verdict | undefined)[]): Verdict | undefined {
  return verdicts.find((v) => v !== undefined && v.kind !== 'allowed');
}

function allAllowed(verdicts: readonly Verdict[], digest: Digest | undefined): Verdict {
  const reasons = [...new Set(verdicts.map((v) => (v.kind === 'allowed' ? v.reason : '')))].join('; ');
  return {
    kind: 'allowed',
    reason: reasons,
    verified: verdicts.some((v) => v.kind === 'allowed' && v.verified),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** Names the policy in a refusal, so a denial says which of several policies refused. */
function attribute(key: string, v: Verdict): Verdict {
  return v.kind === 'allowed' ? v : { ...v, reason: `${key}: ${v.reason}` };
}

/** What a policy that never compiled says about every image: undecided, naming the policy. */
function failure(key: string, reason: string): Verdict {
  return { kind: 'error', code: 'POLICY_INVALID', reason: `${key}: no version in force: ${reason}` };
}

class CombinedPolicy implements TrustPolicy {
  readonly policyHash: string;
  readonly trustHash: string;
  readonly sources: readonly string[];
  readonly #members: readonly ActivePolicy<TrustPolicy>[];

  constructor(members: readonly ActivePolicy<TrustPolicy>[]) {
    this.#members = members;
    const policy = createHash('sha256');
    const trust = createHash('sha256');
    for (const m of members) {
      policy.update(
        `${m.key}\0${m.state === 'ready' ? `${m.hash}\0${m.compiled.policyHash}` : `failed\0${m.reason}`}\0`,
      );
      trust.update(`${m.key}\0${m.state === 'ready' ? m.compiled.trustHash : ''}\0`);
    }
    this.policyHash = policy.digest('hex');
    this.trustHash = trust.digest('hex');
    this.sources = members.flatMap((m) => (m.state === 'ready' ? m.compiled.sources : []));
  }

  async decideWithoutImage(ref: DockerReference): Promise<Verdict | undefined> {
    const verdicts = await Promise.all(
      this.#members.map(
        async (m): Promise<Verdict | undefined> =>
          m.state === 'ready'
            ? ((v) => v && attribute(m.key, v))(await m.compiled.decideWithoutImage(ref))
            : failure(m.key, m.reason),
      ),
    );
    const refusal = firstRefusal(verdicts);
    if (refusal !== undefined) return refusal;
    if (verdicts.some((v) => v === undefined)) return undefined;
    return allAllowed(verdicts as Verdict[], undefined);
  }

  async evaluate(
    ref: DockerReference,
    digest: Digest,
    credentials: PullCredentials,
    signal: AbortSignal,
    observer: CheckObserver,
    platforms: InstanceSelection,
    deadline?: number,
  ): Promise<Verdict> {
    const verdicts = await Promise.all(
      this.#members.map(
        async (m): Promise<Verdict> =>
          m.state === 'ready'
            ? attribute(
                m.key,
                await m.compiled.evaluate(ref, digest, credentials, signal, observer, platforms, deadline),
              )
            : failure(m.key, m.reason),
      ),
    );
    return firstRefusal(verdicts) ?? allAllowed(verdicts, digest);
  }
}

const combined = new WeakMap<
  readonly ActivePolicy<TrustPolicy>[],
  Map<PolicyMode, TrustPolicy | undefined>
>();

/**
 * One TrustPolicy for the policies of `mode` among `policies` (what PolicySource.policiesFor gives),
 * or undefined when none has that mode. Memoized per policies array, so calling it on every
 * admission costs a lookup while the policies are unchanged.
 */
export function combinePolicies(
  policies: readonly ActivePolicy<TrustPolicy>[],
  mode: PolicyMode,
): TrustPolicy | undefined {
  let byMode = combined.get(policies);
  if (byMode === undefined) {
    byMode = new Map();
    combined.set(policies, byMode);
  }
  if (!byMode.has(mode)) {
    const members = policies.filter((p) => p.mode === mode);
    byMode.set(mode, members.length === 0 ? undefined : new CombinedPolicy(members));
  }
  return byMode.get(mode);
}
