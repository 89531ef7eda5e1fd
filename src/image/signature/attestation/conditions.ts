// Judging verified attestations by a requirement's CEL conditions: an attestation satisfies the
// requirement when every condition holds for it; the requirement is satisfied by any one such
// attestation. What each condition returned, and the values it read, is kept for explanations.
import type { Digest } from '../../digest.ts';
import type { CompiledCondition, ConditionOutcome, Observation } from '../cel/index.ts';
import type { FoundAttestation } from './discovery.ts';

export interface ConditionResult {
  readonly expression: string;
  readonly outcome: ConditionOutcome;
  /** Values read by a condition that did not hold (bounded). */
  readonly observed?: readonly Observation[];
}

export interface JudgedAttestation {
  readonly attestation: FoundAttestation;
  /** Every condition, in order, up to and including the first that did not hold. */
  readonly conditions: readonly ConditionResult[];
  readonly satisfied: boolean;
}

export interface ImageFacts {
  /** The image reference as the policy saw it (docker reference string). */
  readonly reference: string;
  /** The manifest digest judged. */
  readonly digest: Digest;
}

/** Judges each attestation in order; stops at the first that satisfies every condition. */
export function judgeAttestations(
  attestations: readonly FoundAttestation[],
  conditions: readonly CompiledCondition[],
  image: ImageFacts,
): JudgedAttestation[] {
  const judged: JudgedAttestation[] = [];
  for (const attestation of attestations) {
    const s = attestation.statement;
    const variables = {
      predicate: s.predicate,
      subject: s.subject,
      predicateType: s.predicateType,
      reference: image.reference,
      digest: image.digest,
    };
    const results: ConditionResult[] = [];
    let satisfied = true;
    for (const c of conditions) {
      const outcome = c.evaluate(variables);
      if (outcome.holds) {
        results.push({ expression: c.expression, outcome });
        continue;
      }
      results.push({ expression: c.expression, outcome, observed: c.observe(variables) });
      satisfied = false;
      break;
    }
    judged.push({ attestation, conditions: results, satisfied });
    if (satisfied) break;
  }
  return judged;
}

const short = (digest: string) => `${digest.slice(0, 'sha256:'.length + 12)}…`;
const quoted = (text: string, max: number) =>
  JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);

/**
 * `condition "…" was false (saw predicate.x = "y") in .att layer sha256:0123456789ab…`, or
 * `… failed with an error (CEL_…): …`: what a denial says of one attestation, kept short (a
 * webhook message is cut at 512 characters; policy eval's explanation has everything).
 */
export function describeFailure(j: JudgedAttestation): string | undefined {
  const last = j.conditions.at(-1);
  if (last === undefined || last.outcome.holds) return undefined;
  const saw = (last.observed ?? []).map((o) => `${o.path} = ${o.value}`).join(', ');
  const what =
    last.outcome.kind === 'false'
      ? 'was false'
      : `failed with an error (${last.outcome.code}): ${last.outcome.message ?? ''}`;
  const l = j.attestation.location;
  const where = l.via === 'attachment' ? `.att layer ${short(l.layer)}` : `referrer ${short(l.referrer)}`;
  return `condition ${quoted(last.expression, 160)} ${what}${saw ? ` (saw ${saw})` : ''} in ${where}`;
}
