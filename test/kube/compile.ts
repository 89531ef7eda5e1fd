// The compile step the composition root wires, for tests: the strict policy.json parser, then
// every inline key loaded now, so a key that does not parse fails the compile (not an admission).
import { type ByteSource, loadKeyring, type Policy, parsePolicy } from '../../src/image/signature/index.ts';
import { parsePublicKeyPem } from '../../src/image/signature/sigstore/keys.ts';

const inline = (s: ByteSource | undefined): Uint8Array[] =>
  s === undefined ? [] : s.kind === 'data' ? [s.data] : s.kind === 'datas' ? [...s.datas] : [];

export async function compileWithKeys(policyJson: string): Promise<{ policy: Policy; policyJson: string }> {
  const policy = parsePolicy(policyJson);
  const lists = [
    policy.default,
    ...[...policy.transports.values()].flatMap((scopes) => [...scopes.values()]),
  ];
  for (const req of lists.flat()) {
    if (req.type === 'signedBy') {
      const keys = inline(req.keys);
      if (keys.length > 0) await loadKeyring(keys);
    } else if (req.type === 'sigstoreSigned' && req.trust.kind === 'publicKeys') {
      for (const k of inline(req.trust.keys)) parsePublicKeyPem(Buffer.from(k).toString('utf8'), 'keyData');
    }
  }
  return { policy, policyJson };
}
