// The shapes of the records replicas share (src/cache/shared.ts), checked field by field when
// read back: a record is signed, but it still crossed a network and another process.
import { type Digest, isDigest } from '../image/index.ts';
import type { Verdict } from './types.ts';

export type Allowed = Extract<Verdict, { kind: 'allowed' }>;

/** A verified verdict kept for stale-if-error, and when it was verified (epoch ms). */
export interface LastKnownGood {
  readonly verdict: Allowed;
  readonly at: number;
}

/** A tag's last successful resolution (epoch ms), kept for stale-if-error. */
export interface LastResolution {
  readonly digest: Digest;
  readonly at: number;
}

const MAX_REASON = 4096;

type Fields = Record<string, unknown>;

function fields(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
}

function digestField(value: unknown): Digest | undefined {
  return typeof value === 'string' && isDigest(value) ? value : undefined;
}

function timeField(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** A cached verdict: only definite ones (allowed, denied) are ever shared. */
export function parseVerdict(value: unknown): Verdict | undefined {
  const v = fields(value);
  if (v === undefined || typeof v.reason !== 'string' || v.reason.length > MAX_REASON) return undefined;
  if (v.kind === 'denied') return { kind: 'denied', reason: v.reason };
  if (v.kind !== 'allowed' || typeof v.verified !== 'boolean') return undefined;
  const digest = v.digest === undefined ? undefined : digestField(v.digest);
  if (v.digest !== undefined && digest === undefined) return undefined;
  return {
    kind: 'allowed',
    reason: v.reason,
    verified: v.verified,
    ...(digest === undefined ? {} : { digest }),
  };
}

export function parseDigestRecord(value: unknown): { readonly digest: Digest } | undefined {
  const digest = digestField(fields(value)?.digest);
  return digest === undefined ? undefined : { digest };
}

export function parseLastKnownGood(value: unknown): LastKnownGood | undefined {
  const v = fields(value);
  const verdict = parseVerdict(v?.verdict);
  const at = timeField(v?.at);
  if (verdict?.kind !== 'allowed' || !verdict.verified || verdict.digest === undefined || at === undefined) {
    return undefined;
  }
  return { verdict, at };
}

export function parseLastResolution(value: unknown): LastResolution | undefined {
  const v = fields(value);
  const digest = digestField(v?.digest);
  const at = timeField(v?.at);
  return digest === undefined || at === undefined ? undefined : { digest, at };
}
