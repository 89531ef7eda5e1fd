// The compile step the composition root wires, for tests: the strict policy.json parser, then
// every inline key loaded now, so a key that does not parse fails the compile (not an admission).
import { loadKeyring, type Policy, parsePolicy } from '../../src/image/signature/index.ts';
import { parsePublicKeyPem } from '../../src/image/signature/sigstore/keys.ts';
import { loadInlineKeys } from '../../src/policy/crd/keys.ts';

export async function compileWithKeys(policyJson: string): Promise<{ policy: Policy; policyJson: string }> {
  const policy = parsePolicy(policyJson);
  await loadInlineKeys(policy, { gpg: loadKeyring, sigstore: (pem, field) => parsePublicKeyPem(pem, field) });
  return { policy, policyJson };
}
