// skopeo's global trust-policy flags for copy and sync: the policy is checked for every image
// before anything else of it is read (the copy engine's SourcePolicy hook).
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourcePolicy } from '../image/copy/index.ts';
import { BaseError, type TransportRegistry } from '../image/index.ts';
import { PolicyEvaluator, readPolicyFile } from '../image/signature/index.ts';
import type { FlagSpec } from './args.ts';

export const policyFlagSpecs = {
  policy: {
    type: 'string',
    metavar: 'PATH',
    help: 'trust policy (default $HOME/.config/containers/policy.json, else /etc/containers/policy.json)',
  },
  'insecure-policy': { type: 'boolean', help: 'run without any policy check' },
} as const satisfies Record<string, FlagSpec>;

/** A policy denial, with the evaluator's denial code. */
export class PolicyRejection extends BaseError<string> {}

async function defaultPolicyPath(env: Readonly<Record<string, string | undefined>>): Promise<string> {
  const user = env.HOME === undefined ? undefined : join(env.HOME, '.config', 'containers', 'policy.json');
  if (user !== undefined) {
    try {
      await access(user);
      return user;
    } catch {
      // upstream falls back to the system-wide file
    }
  }
  return '/etc/containers/policy.json';
}

/** The SourcePolicy the flags ask for; undefined with --insecure-policy. */
export async function policyFromFlags(
  flags: { readonly policy?: string | undefined; readonly 'insecure-policy'?: boolean | undefined },
  env: Readonly<Record<string, string | undefined>>,
  transports: TransportRegistry,
): Promise<SourcePolicy | undefined> {
  if (flags['insecure-policy']) return undefined;
  const path = flags.policy ?? (await defaultPolicyPath(env));
  const evaluator = new PolicyEvaluator(await readPolicyFile(path, { transports }));
  return {
    async checkSource(image) {
      const verdict = await evaluator.evaluate(image);
      if (!verdict.allowed) throw new PolicyRejection(verdict.code, verdict.reason);
    },
  };
}
