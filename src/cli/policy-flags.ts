// skopeo's global trust-policy flags for copy and sync: the policy is checked for every image
// before anything else of it is read (the copy engine's SourcePolicy hook).
import type { SourcePolicy } from '../image/copy/index.ts';
import { BaseError, type TransportRegistry } from '../image/index.ts';
import { PolicyEvaluator } from '../image/signature/evaluate.ts';
import { readPolicyFile } from '../image/signature/policy-parse.ts';
import type { SigstoreVerifier } from '../image/signature/requirements/sigstore-signed.ts';
import type { FlagSpec } from './args.ts';
import { defaultPolicyPath } from './policy.ts';

export const policyFlagSpecs = {
  policy: {
    type: 'string',
    metavar: 'PATH',
    help: 'trust policy (default $HOME/.config/containers/policy.json, else /etc/containers/policy.json)',
  },
  'insecure-policy': { type: 'boolean', help: 'run without any policy check' },
  'require-signed': { type: 'boolean', help: 'also deny images no requirement verified a signature of' },
} as const satisfies Record<string, FlagSpec>;

/** A policy denial, with the evaluator's denial code. */
export class PolicyRejection extends BaseError<string> {}

/** The SourcePolicy the flags ask for; undefined with --insecure-policy. */
export async function policyFromFlags(
  flags: {
    readonly policy?: string | undefined;
    readonly 'insecure-policy'?: boolean | undefined;
    readonly 'require-signed'?: boolean | undefined;
  },
  env: Readonly<Record<string, string | undefined>>,
  transports: TransportRegistry,
  sigstore: SigstoreVerifier | undefined,
): Promise<SourcePolicy | undefined> {
  if (flags['insecure-policy']) return undefined;
  const policy = await readPolicyFile(flags.policy ?? defaultPolicyPath(env), { transports });
  const evaluator = new PolicyEvaluator(policy, {
    requireSigned: flags['require-signed'] ?? false,
    ...(sigstore !== undefined ? { sigstore } : {}),
  });
  return {
    async checkSource(image) {
      const verdict = await evaluator.evaluate(image);
      if (!verdict.allowed) throw new PolicyRejection(verdict.code, verdict.reason);
    },
  };
}
