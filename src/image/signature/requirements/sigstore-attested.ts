// `sigstoreAttested` (a Portcullis extension): an in-toto attestation of `predicateType` about
// the image's digest, signed as a sigstoreSigned requirement's trust says, for which every CEL
// condition holds. Conditions are compiled here, once, so that a policy that loads can be
// evaluated and a condition that does not compile is a parse error with the expression and its
// position.
//
//   { "type": "sigstoreAttested",
//     "keyPath" | "keyData" | "fulcio" | "pki" | … (as sigstoreSigned),
//     "predicateType": "https://slsa.dev/provenance/v1",
//     "conditions": ["predicate.runDetails.builder.id == \"https://…\""] }
import { manifestDigest } from '../../manifest/index.ts';
import { describeFailure, describeLocation, type JudgedAttestation } from '../attestation/index.ts';
import { CelCompileError, type CompiledCondition, compileCondition } from '../cel/index.ts';
import type { AttestationAttempt, DenialCode } from '../evaluate.ts';
import { asArray, asString, invalidValue, type ObjectReader } from '../json.ts';
import { parseSigstoreTrustFields, type SigstoreTrustFields, sigstoreTrustFiles } from './sigstore-signed.ts';
import type { EvaluationContext, ImageView, Outcome, RequirementType } from './types.ts';

export interface SigstoreAttestedRequirement extends SigstoreTrustFields {
  readonly type: 'sigstoreAttested';
  readonly predicateType: string;
  /** CEL expressions, compiled when the policy is parsed; all must hold. */
  readonly conditions: readonly CompiledCondition[];
}

/** A requirement names a handful of conditions; a list this long is a mistake. */
const MAX_CONDITIONS = 64;

function parse(obj: ObjectReader): SigstoreAttestedRequirement {
  let predicateTypeNode: ReturnType<ObjectReader['take']>;
  let conditionsNode: ReturnType<ObjectReader['take']>;
  const trust = parseSigstoreTrustFields(obj, (trustKeys) => {
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

function attestationAttempt(
  location: Parameters<typeof describeLocation>[0],
  judged: JudgedAttestation | undefined,
  signer:
    | { kind: 'key'; source: string }
    | { kind: 'certificate'; emails: readonly string[]; uris: readonly string[] },
): AttestationAttempt {
  return {
    location: describeLocation(location),
    verified: true,
    signer: signer.kind === 'key' ? signer.source : (signer.emails[0] ?? signer.uris[0] ?? 'certificate'),
    ...(judged === undefined
      ? {}
      : {
          satisfied: judged.satisfied,
          conditions: judged.conditions.map((c) => ({
            expression: c.expression,
            result: c.outcome.holds ? ('true' as const) : c.outcome.kind,
            ...(c.outcome.holds || c.outcome.code === undefined ? {} : { code: c.outcome.code }),
            ...(c.outcome.holds || c.outcome.message === undefined ? {} : { message: c.outcome.message }),
            ...(c.observed === undefined ? {} : { observed: c.observed }),
          })),
        }),
  };
}

/**
 * An attestation of the instance's own digest (the digest judged), verified with the
 * requirement's trust, for which every condition holds.
 */
async function evaluate(
  req: SigstoreAttestedRequirement,
  view: ImageView,
  ctx: EvaluationContext,
): Promise<Outcome> {
  const verify = ctx.sigstore?.verifyAttestations?.bind(ctx.sigstore);
  const source = await view.referrerSource();
  if (verify === undefined || source === undefined) {
    return {
      allowed: false,
      code: 'SIGSTORE_NOT_CONFIGURED',
      reason: `attestations cannot be read through the ${view.image.reference.transport.name} transport`,
    };
  }
  const digest = manifestDigest((await view.manifest()).manifest);
  const ref = view.image.reference;
  const reference = ref.dockerReference()?.toString() ?? ref.policyConfigurationIdentity();
  const found = await verify(req, source, { reference, digest });
  const judged = new Map(found.judged.map((j) => [j.attestation, j]));
  const attestations: AttestationAttempt[] = [
    ...found.verified.map((a) => attestationAttempt(a.location, judged.get(a), a.signer)),
    ...found.rejected.map((r) => ({
      location: describeLocation(r.location),
      verified: false,
      reason: r.reason,
      ...(r.code === undefined ? {} : { code: r.code }),
    })),
  ];
  const probes = found.probes;
  if (found.judged.some((j) => j.satisfied)) return { allowed: true, attestations, probes };
  const what = `an attestation of type ${JSON.stringify(req.predicateType)}`;
  let code: DenialCode;
  let reason: string;
  if (found.verified.length > 0) {
    code = 'CONDITIONS_NOT_MET';
    const failures = found.judged.flatMap((j) => describeFailure(j) ?? []);
    const n = found.verified.length;
    reason = `${what} was required with its conditions met: ${failures.slice(0, 3).join('; ')}${failures.length > 3 ? `; and ${failures.length - 3} more` : ''} (${n} verified, ${n === 1 ? 'it does' : 'none does'} not meet them)`;
  } else if (found.rejected.length > 0) {
    code = 'ATTESTATION_REJECTED';
    const reasons = [...new Set(found.rejected.map((r) => r.reason))];
    reason = `${what} was required; ${found.rejected.length} found, rejected: ${reasons.slice(0, 3).join('; ')}`;
  } else {
    code = 'NO_ATTESTATION';
    reason = `${what} was required, but none exists`;
  }
  reason = `${reason}; probed: ${probes.join('; ')}`;
  // An attestation that could not be read might have been the one: undecided, never cached.
  if (found.incomplete && code !== 'CONDITIONS_NOT_MET') code = 'EVALUATION_FAILED';
  return { allowed: false, code, reason, attestations, probes };
}

const notConfigured: Outcome = {
  allowed: false,
  code: 'SIGSTORE_NOT_CONFIGURED',
  reason: 'sigstore verification not configured: sigstoreAttested requirements cannot be evaluated',
};

export const sigstoreAttested: RequirementType<SigstoreAttestedRequirement> = {
  name: 'sigstoreAttested',
  parse,
  decideWithoutImage: (_req, ctx) =>
    ctx.sigstore?.verifyAttestations === undefined ? notConfigured : undefined,
  evaluate,
  policyOnly: false,
  readsSigstoreSignatures: false,
  strength: () => 'verifies',
  extensionFields: () => ['type sigstoreAttested'],
  lint: () => [],
  files: sigstoreTrustFiles,
};
