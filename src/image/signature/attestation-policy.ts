// policy.json's `sigstoreAttested` requirement (a Portcullis extension): the trust fields of
// sigstoreSigned, the predicate type required, and CEL conditions compiled here, once, so that a
// policy that loads can be evaluated and a condition that does not compile is a parse error with
// the expression and its position.
//
//   { "type": "sigstoreAttested",
//     "keyPath" | "keyData" | "fulcio" | "pki" | … (as sigstoreSigned),
//     "predicateType": "https://slsa.dev/provenance/v1",
//     "conditions": ["predicate.runDetails.builder.id == \"https://…\""] }
import { CelCompileError, type CompiledCondition, compileCondition } from './cel/index.ts';
import { asArray, asString, invalidValue, type ObjectReader } from './json.ts';
import type { PolicyRequirement, SigstoreTrustFields } from './policy-types.ts';

/** A requirement names a handful of conditions; a list this long is a mistake. */
export const MAX_CONDITIONS = 64;

type TrustReader = (obj: ObjectReader, finish: (trustKeys: readonly string[]) => void) => SigstoreTrustFields;

export function parseSigstoreAttested(obj: ObjectReader, parseTrust: TrustReader): PolicyRequirement {
  let predicateTypeNode: ReturnType<ObjectReader['take']>;
  let conditionsNode: ReturnType<ObjectReader['take']>;
  const trust = parseTrust(obj, (trustKeys) => {
    predicateTypeNode = obj.required('predicateType');
    conditionsNode = obj.take('conditions');
    obj.finish(['type', ...trustKeys, 'predicateType', 'conditions']);
  });
  const predicateType = asString(predicateTypeNode!);
  if (predicateType === '') throw invalidValue(predicateTypeNode!, 'predicateType must not be empty');
  const conditions: CompiledCondition[] = [];
  if (conditionsNode !== undefined) {
    const items = asArray(conditionsNode, 'a list of CEL conditions').items;
    if (items.length > MAX_CONDITIONS)
      throw invalidValue(conditionsNode, `more than ${MAX_CONDITIONS} conditions`);
    for (const item of items) {
      try {
        conditions.push(compileCondition(asString(item)));
      } catch (err) {
        if (err instanceof CelCompileError) throw invalidValue(item, err.message, { cause: err });
        throw err;
      }
    }
  }
  return { type: 'sigstoreAttested', ...trust, predicateType, conditions };
}
