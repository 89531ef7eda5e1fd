// `notationSigned` (a Portcullis extension): a Notation (Notary Project) signature among the
// image's OCI 1.1 referrers, verified under one Notation trust policy statement. Parsed as
// strictly as the upstream types: exact objects, and the statement's level, overrides and trusted identities
// validated by the Notation module at parse time, so a policy that loads can be evaluated.
//
//   { "type": "notationSigned",
//     "trustStore": { "caPath" | "caData", "signingAuthorityPath" | "signingAuthorityData",
//                     "tsaPath" | "tsaData" },
//     "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme"] | ["*"],
//     "signatureVerification": { "level": "strict" | "permissive" | "audit" | "skip",
//                                "override": { "revocation": "skip", … },
//                                "verifyTimestamp": "always" | "afterCertExpiry" } }
import type { Digest } from '../../digest.ts';
import { manifestDigest } from '../../manifest/index.ts';
import type { SignatureAttempt } from '../evaluate.ts';
import { asString, asStringArray, invalidValue, type JsonNode, ObjectReader } from '../json.ts';
import {
  compileNotationSettings,
  type NotationAttempt,
  NotationError,
  type NotationSettings,
  type NotationTarget,
  type OverridableCheck,
  type VerificationAction,
  type VerificationLevel,
} from '../notation/index.ts';
import type { PathOrData } from '../policy-types.ts';
import { pathOrData, sourcePaths } from './key-sources.ts';
import type { EvaluationContext, ImageView, Outcome, RequirementType } from './types.ts';

/** Certificate bundles (PEM or DER) per Notation trust store type. */
export interface NotationTrustStore {
  readonly ca: PathOrData | undefined;
  readonly signingAuthority: PathOrData | undefined;
  readonly tsa: PathOrData | undefined;
}

export interface NotationSignedRequirement {
  readonly type: 'notationSigned';
  readonly trustStore: NotationTrustStore;
  readonly settings: NotationSettings;
}

const STORES = ['ca', 'signingAuthority', 'tsa'] as const;
const CHECKS: readonly OverridableCheck[] = ['authenticity', 'authenticTimestamp', 'expiry', 'revocation'];

function parseSettings(node: JsonNode, identitiesNode: JsonNode): NotationSettings {
  const obj = new ObjectReader(node, 'a signatureVerification object');
  const level = asString(obj.required('level')) as VerificationLevel;
  const overrideNode = obj.take('override');
  const verifyTimestampNode = obj.take('verifyTimestamp');
  obj.finish(['level', 'override', 'verifyTimestamp']);
  let override: Partial<Record<OverridableCheck, VerificationAction>> | undefined;
  if (overrideNode !== undefined) {
    const o = new ObjectReader(overrideNode, 'an override object');
    override = {};
    for (const check of CHECKS) {
      const v = o.take(check);
      if (v !== undefined) override[check] = asString(v) as VerificationAction;
    }
    o.finish(CHECKS);
  }
  return {
    level,
    trustedIdentities: asStringArray(identitiesNode),
    ...(override === undefined ? {} : { override }),
    ...(verifyTimestampNode === undefined
      ? {}
      : { verifyTimestamp: asString(verifyTimestampNode) as 'always' | 'afterCertExpiry' }),
  };
}

function parse(obj: ObjectReader): NotationSignedRequirement {
  const storeNode = obj.take('trustStore');
  const identitiesNode = obj.required('trustedIdentities');
  const verificationNode = obj.required('signatureVerification');
  obj.finish(['type', 'trustStore', 'trustedIdentities', 'signatureVerification']);
  const settings = parseSettings(verificationNode, identitiesNode);
  try {
    compileNotationSettings(settings);
  } catch (err) {
    if (err instanceof NotationError)
      throw invalidValue(obj.node, `notationSigned: ${err.message}`, { cause: err });
    throw err;
  }
  const stores: Record<(typeof STORES)[number], PathOrData | undefined> = {
    ca: undefined,
    signingAuthority: undefined,
    tsa: undefined,
  };
  if (storeNode !== undefined) {
    const s = new ObjectReader(storeNode, 'a trustStore object');
    for (const store of STORES) stores[store] = pathOrData(s, `${store}Path`, `${store}Data`);
    s.finish(STORES.flatMap((store) => [`${store}Path`, `${store}Data`]));
  }
  if (settings.level !== 'skip' && stores.ca === undefined && stores.signingAuthority === undefined)
    throw invalidValue(
      obj.node,
      'notationSigned: trustStore needs a ca or signingAuthority certificate bundle',
    );
  return { type: 'notationSigned', trustStore: stores, settings };
}

function notationAttempt(a: NotationAttempt, index: number, list: Digest | undefined): SignatureAttempt {
  return {
    index,
    referrer: a.referrer,
    format: 'notation',
    accepted: a.accepted,
    ...(a.envelope === undefined ? {} : { envelope: a.envelope }),
    ...(a.reason === undefined ? {} : { reason: a.reason }),
    ...(a.code === undefined ? {} : { code: a.code }),
    ...(a.signature === undefined
      ? {}
      : {
          keyIdentity: a.signature.signer,
          ...(a.signature.warnings.length ? { warnings: a.signature.warnings } : {}),
        }),
    ...(list === undefined ? {} : { list }),
  };
}

/**
 * A Notation signature among the image's referrers. For an instance of a list, the list's own
 * signatures count too: `notation sign` signs what a reference names, which for a multi-arch
 * image is the index, and `notation verify` accepts that for every instance.
 */
async function evaluate(
  req: NotationSignedRequirement,
  view: ImageView,
  ctx: EvaluationContext,
): Promise<Outcome> {
  const source = await view.referrerSource();
  if (source === undefined) {
    return {
      allowed: false,
      code: 'REFERRERS_UNSUPPORTED',
      reason: `Notation signatures are OCI referrers, which the ${view.image.reference.transport.name} transport cannot list`,
    };
  }
  const own = await view.manifest();
  const targets: { target: NotationTarget; list?: Digest }[] = [
    {
      target: {
        digest: manifestDigest(own.manifest),
        size: own.manifest.byteLength,
        mediaType: own.mimeType,
      },
    },
  ];
  const instance = view.image.instance;
  const signatures: SignatureAttempt[] = [];
  const probes: string[] = [];
  let incomplete = false;
  for (let i = 0; i < 2; i++) {
    if (i === 1) {
      if (instance === undefined) break;
      const list = await instance.list.manifest();
      targets.push({
        target: { digest: instance.list.digest, size: list.manifest.byteLength, mediaType: list.mimeType },
        list: instance.list.digest,
      });
    }
    const { target, list } = targets[i]!;
    const found = await ctx.notation.verify(req, source, target);
    incomplete ||= found.incomplete;
    probes.push(...found.probes.map((p) => (list === undefined ? p : `list ${list} ${p}`)));
    signatures.push(...found.attempts.map((a) => notationAttempt(a, signatures.length, list)));
    if (found.accepted !== undefined) return { allowed: true, signatures, probes };
  }
  const rejected = signatures.filter((a) => !a.accepted);
  const reason =
    rejected.length === 0
      ? `A Notation signature was required, but none exists (probed: ${probes.join('; ')})`
      : `None of the Notation signatures were accepted, reasons: ${rejected.map((a) => `${a.referrer}: ${a.reason}`).join('; ')}`;
  if (incomplete) return { allowed: false, code: 'EVALUATION_FAILED', reason, signatures, probes };
  return {
    allowed: false,
    code: rejected.length === 0 ? 'NO_SIGNATURE' : 'SIGNATURE_REJECTED',
    reason,
    signatures,
    probes,
  };
}

export const notationSigned: RequirementType<NotationSignedRequirement> = {
  name: 'notationSigned',
  parse,
  // Notation's skip level verifies nothing (the trust policy's way to exempt a scope).
  decideWithoutImage: (req) => (req.settings.level === 'skip' ? { allowed: true } : undefined),
  evaluate,
  policyOnly: false,
  readsSigstoreSignatures: false,
  strength: (req) => (req.settings.level === 'skip' ? 'accepts-anything' : 'verifies'),
  extensionFields: () => ['type notationSigned'],
  lint: () => [],
  files: (req) => [
    ...sourcePaths(req.trustStore.ca),
    ...sourcePaths(req.trustStore.signingAuthority),
    ...sourcePaths(req.trustStore.tsa),
  ],
};
