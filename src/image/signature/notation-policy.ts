// policy.json's `notationSigned` requirement (a Portcullis extension), parsed as strictly as the
// upstream types: exact objects, and the statement's level, overrides and trusted identities
// validated by the Notation module at parse time, so a policy that loads can be evaluated.
//
//   { "type": "notationSigned",
//     "trustStore": { "caPath" | "caData", "signingAuthorityPath" | "signingAuthorityData",
//                     "tsaPath" | "tsaData" },
//     "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme"] | ["*"],
//     "signatureVerification": { "level": "strict" | "permissive" | "audit" | "skip",
//                                "override": { "revocation": "skip", … },
//                                "verifyTimestamp": "always" | "afterCertExpiry" } }
import { asString, asStringArray, invalidValue, type JsonNode, ObjectReader } from './json.ts';
import {
  compileNotationSettings,
  NotationError,
  type NotationSettings,
  type OverridableCheck,
  type VerificationAction,
  type VerificationLevel,
} from './notation/index.ts';
import type { PathOrData, PolicyRequirement } from './policy-types.ts';

type PathOrDataReader = (obj: ObjectReader, pathKey: string, dataKey: string) => PathOrData | undefined;

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

export function parseNotationSigned(obj: ObjectReader, pathOrData: PathOrDataReader): PolicyRequirement {
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
