// Loads every key a compiled policy carries inline, so that a key that does not parse fails the
// compile (the controller then keeps the last good version) instead of failing admissions later.
import {
  compileNotationTrust,
  NotationError,
  type Policy,
  type PolicyRequirement,
} from '../../image/index.ts';

type ByteSource =
  | Extract<PolicyRequirement, { type: 'signedBy' }>['keys']
  | Extract<PolicyRequirement, { type: 'sigstoreSigned' }>['rekorPublicKeys'];

/** The key parsers of the signature layer, injected by the composition root. */
export interface InlineKeyLoaders {
  /** Loads a GPG keyring (signedBy keyData); rejects when it holds no usable key. */
  readonly gpg: (keyrings: readonly Uint8Array[]) => Promise<unknown>;
  /** Parses one PEM public key (sigstoreSigned and sigstoreAttested keys, Rekor keys); throws when it cannot. */
  readonly sigstore: (pem: string, field: string) => unknown;
}

const inline = (s: ByteSource | undefined): Uint8Array[] =>
  s === undefined ? [] : s.kind === 'data' ? [s.data] : s.kind === 'datas' ? [...s.datas] : [];

export async function loadInlineKeys(policy: Policy, loaders: InlineKeyLoaders): Promise<void> {
  const scopes: [string, Policy['default']][] = [['default', policy.default]];
  for (const [transport, byScope] of policy.transports) {
    for (const [scope, reqs] of byScope)
      scopes.push([`transports[${JSON.stringify(transport)}][${JSON.stringify(scope)}]`, reqs]);
  }
  for (const [at, reqs] of scopes) {
    for (const [i, req] of reqs.entries()) {
      const field = `spec.${at}[${i}]`;
      if (req.type === 'signedBy') {
        const keys = inline(req.keys);
        if (keys.length > 0) await loaders.gpg(keys);
      } else if (req.type === 'sigstoreSigned' || req.type === 'sigstoreAttested') {
        const keys = req.trust.kind === 'publicKeys' ? inline(req.trust.keys) : [];
        for (const k of keys) loaders.sigstore(Buffer.from(k).toString('utf8'), `${field}.key`);
        for (const k of inline(req.rekorPublicKeys))
          loaders.sigstore(Buffer.from(k).toString('utf8'), `${field}.rekorPublicKey`);
      } else if (req.type === 'notationSigned') {
        const s = req.trustStore;
        // Only a trust store held whole inline can be compiled now; files are read at evaluation.
        if ([s.ca, s.signingAuthority, s.tsa].every((b) => b === undefined || b.kind === 'data')) {
          try {
            compileNotationTrust({
              ...req.settings,
              ca: inline(s.ca),
              signingAuthority: inline(s.signingAuthority),
              tsa: inline(s.tsa),
            });
          } catch (err) {
            throw new NotationError(
              'NOTATION_TRUST_INVALID',
              `${field}.trustStore: ${(err as Error).message}`,
              {
                cause: err,
              },
            );
          }
        }
      }
    }
  }
}
