// `signedBy`: a simple-signing signature (GPG) by one of the requirement's keys, whose payload
// names the image's manifest digest and a reference its signedIdentity accepts (upstream
// policy_eval_signedby.go).
import { SignatureError } from '../errors.ts';
import type { SignatureAttempt } from '../evaluate.ts';
import type { GpgKeyring } from '../gpg/openpgp.ts';
import { parseSignedIdentity } from '../identity.ts';
import { asBase64, asString, asStringArray, invalidValue, type ObjectReader } from '../json.ts';
import type { ByteSource, SignedIdentity } from '../policy-types.ts';
import { verifyAndExtractSignature } from '../simple-signing.ts';
import { loadBytes, optionalBoolean, sourcePaths } from './key-sources.ts';
import { expectations, rejectedAttempt, summarize, withIndexSignatures } from './signatures.ts';
import type { EvaluationContext, ImageView, Outcome, RequirementType } from './types.ts';

export type SignedByKeyType = 'GPGKeys' | 'signedByGPGKeys' | 'X509Certificates' | 'signedByX509CAs';

export interface SignedByRequirement {
  readonly type: 'signedBy';
  readonly keyType: SignedByKeyType;
  /** path, paths or data (never datas). */
  readonly keys: ByteSource;
  readonly signedIdentity: SignedIdentity;
  /** Portcullis extension, see sigstoreSigned. */
  readonly acceptIndexSignatures?: boolean;
}

const keyTypes: readonly SignedByKeyType[] = [
  'GPGKeys',
  'signedByGPGKeys',
  'X509Certificates',
  'signedByX509CAs',
];

function parse(obj: ObjectReader): SignedByRequirement {
  const keyTypeNode = obj.required('keyType');
  const keyType = asString(keyTypeNode);
  if (!(keyTypes as readonly string[]).includes(keyType)) {
    throw invalidValue(
      keyTypeNode,
      `unrecognized keyType value ${JSON.stringify(keyType)}, expected one of ${keyTypes.join(', ')}`,
    );
  }
  const path = obj.take('keyPath');
  const paths = obj.take('keyPaths');
  const data = obj.take('keyData');
  const identity = obj.take('signedIdentity');
  const acceptIndexSignatures = obj.take('acceptIndexSignatures');
  obj.finish([
    'type',
    'keyType',
    'keyPath',
    'keyPaths',
    'keyData',
    'signedIdentity',
    'acceptIndexSignatures',
  ]);
  // Upstream counts presence (keyPaths: [] is a valid, empty, keyring), then rejects an empty keyPath.
  const present = [path, paths, data].filter((n) => n !== undefined).length;
  if (present !== 1) {
    throw invalidValue(
      obj.node,
      `exactly one of keyPath, keyPaths and keyData must be specified, ${present === 0 ? 'none' : 'more than one'} present`,
    );
  }
  let keys: ByteSource;
  if (path !== undefined) {
    const p = asString(path);
    if (p === '') throw invalidValue(path, 'exactly one of keyPath, keyPaths and keyData must be specified');
    keys = { kind: 'path', path: p };
  } else if (paths !== undefined) {
    keys = { kind: 'paths', paths: asStringArray(paths) };
  } else {
    keys = { kind: 'data', data: asBase64(data!) };
  }
  return {
    type: 'signedBy',
    keyType: keyType as SignedByKeyType,
    keys,
    signedIdentity:
      identity === undefined ? { type: 'matchRepoDigestOrExact' } : parseSignedIdentity(identity),
    ...optionalBoolean('acceptIndexSignatures', acceptIndexSignatures),
  };
}

async function signedOn(req: SignedByRequirement, view: ImageView, ctx: EvaluationContext): Promise<Outcome> {
  const all = await view.signatures();
  const attempts: SignatureAttempt[] = [];
  let otherFormat = 0;
  // Keys are loaded only when there is a signature to check, as upstream does per signature.
  let keys: Promise<GpgKeyring> | undefined;
  const expected = expectations(req.signedIdentity, view);
  for (const [index, sig] of all.entries()) {
    if (sig.format !== 'simple-signing') {
      otherFormat++;
      continue;
    }
    try {
      if (req.keyType !== 'GPGKeys') {
        throw new SignatureError(
          'KEY_INVALID',
          `Unimplemented "keyType" value ${JSON.stringify(req.keyType)}`,
        );
      }
      keys ??= loadBytes(req.keys, ctx).then((data) => ctx.keyringCache.load(data));
      const keyring = await keys;
      if (keyring.fingerprints.length === 0)
        throw new SignatureError('KEY_INVALID', 'No public keys imported');
      const accepted = await verifyAndExtractSignature(
        sig.blob,
        keyring,
        { acceptedKeyIdentities: keyring.fingerprints, ...expected },
        { cache: ctx.verificationCache, now: ctx.now() },
      );
      attempts.push({ index, format: sig.format, accepted: true, ...accepted });
      return { allowed: true, signatures: attempts };
    } catch (err) {
      attempts.push(rejectedAttempt(index, sig, err));
    }
  }
  const outcome = summarize(attempts, 'A signature was required, but no signature exists');
  return otherFormat === 0 ? outcome : { ...outcome, skipped: { otherFormat, nonSignatureAttachments: 0 } };
}

const extensionFields = (req: SignedByRequirement): string[] =>
  req.acceptIndexSignatures === undefined ? [] : ['acceptIndexSignatures'];

export const signedBy: RequirementType<SignedByRequirement> = {
  name: 'signedBy',
  parse,
  decideWithoutImage: () => undefined,
  evaluate: (req, view, ctx) =>
    withIndexSignatures(req.acceptIndexSignatures, view, (v) => signedOn(req, v, ctx)),
  policyOnly: false,
  readsSigstoreSignatures: false,
  strength: () => 'verifies',
  extensionFields,
  // One finding per requirement: one that is not portable is reported as that alone.
  lint: (req) =>
    req.keyType !== 'GPGKeys' && extensionFields(req).length === 0
      ? [
          {
            code: 'REQUIREMENT_ALWAYS_REJECTS',
            message: `signedBy keyType ${req.keyType} is not implemented and rejects every signature`,
          },
        ]
      : [],
  files: (req) => sourcePaths(req.keys),
};
