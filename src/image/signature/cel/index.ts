// CEL conditions over verified attestations: compiled once per policy, evaluated with a step
// budget. The only module that imports @bufbuild/cel.
//
// Why @bufbuild/cel (0.6, compared in December 2026 on a 2-core Linux VM, Node 24):
// - It runs the CEL conformance suite (cel-spec's simple tests, shipped as @bufbuild/cel-spec) in
//   its own CI; @marcbachmann/cel-js has only its own tests, and cel-js (ChromeGG) neither.
// - `matches()` runs on an RE2 engine (linear time). @marcbachmann/cel-js hands the pattern to
//   JavaScript's backtracking RegExp, and here the text it runs on is an attacker's predicate.
// - Apache-2.0, maintained by Buf (it backs protovalidate-es).
// - Its costs: ~11 MiB installed with @bufbuild/protobuf and @bufbuild/cel-spec (test data it
//   imports at run time), ~120 ms to load (@marcbachmann/cel-js: 0.3 MiB, ~15 ms), ~230,000
//   evaluations/s of a two-clause provenance condition (@marcbachmann/cel-js: ~1.2 million). The
//   load is paid once, and only by processes whose policy has conditions (required on first
//   compile, as openpgp is); the rate is above what admission needs (test/bench/attestation).
// - Neither library has a cost or step limit, and @bufbuild/cel has no optional-field syntax
//   (`.?field`). The budget below is ours.
//
// Budget (Kubernetes-style, per evaluation): every condition costs its node count once, and every
// comprehension iteration (`all`, `exists`, `exists_one`, `map`, `filter`) the node count of its
// body plus one. Once the budget is spent, every loop stops at its next iteration and the result
// is the error CEL_BUDGET_EXHAUSTED, whatever the expression would have returned. Outside loops an
// expression's work is linear in its size and the (capped) predicate's size.
//
// Missing fields: an error, as in CEL and in Kubernetes (`no such key`), never false. A condition
// that errors does not hold, and the denial says "error" with CEL's message; `has(x.f)` and
// `'f' in x` test for presence. JSON numbers are CEL doubles (as google.protobuf.Value makes
// them): `x.count > 0` works, arithmetic needs doubles (`x.count + 1.0`).
import { createRequire } from 'node:module';
import type * as Cel from '@bufbuild/cel';
import { BaseError } from '../../errors.ts';

export type CelCompileErrorCode =
  /** The expression does not parse. */
  | 'CEL_SYNTAX'
  /** Longer than MAX_EXPRESSION_LENGTH. */
  | 'CEL_TOO_LONG'
  /** Names a variable that is not declared. */
  | 'CEL_UNKNOWN_VARIABLE'
  /** Calls a function or method CEL does not have. */
  | 'CEL_UNKNOWN_FUNCTION';

/** A condition that does not compile; `line` and `column` (1-based) say where. */
export class CelCompileError extends BaseError<CelCompileErrorCode> {
  readonly expression: string;
  readonly line: number;
  readonly column: number;
  constructor(
    code: CelCompileErrorCode,
    detail: string,
    expression: string,
    position: { line: number; column: number },
    options?: { cause?: unknown },
  ) {
    super(
      code,
      `condition ${quoteExpression(expression)}: ${position.line}:${position.column}: ${detail}`,
      options,
    );
    this.expression = expression;
    this.line = position.line;
    this.column = position.column;
  }
}

/** Conditions are policy text, not programs: a few hundred characters in practice. */
export const MAX_EXPRESSION_LENGTH = 4096;
/** Cost units one evaluation may spend (Kubernetes' per-expression runtime limit is 1,000,000). */
export const DEFAULT_COST_BUDGET = 1_000_000;
/** How much of an observed value a denial quotes. */
const MAX_OBSERVED_CHARS = 120;
const MAX_OBSERVED_PATHS = 6;

/** The variables every condition sees (docs/attestations.md). */
export const CONDITION_VARIABLES = ['predicate', 'subject', 'predicateType', 'reference', 'digest'] as const;
export type ConditionVariables = Readonly<Record<(typeof CONDITION_VARIABLES)[number], unknown>>;

export type ConditionOutcome =
  | { readonly holds: true }
  | {
      readonly holds: false;
      /** `false`: evaluated to false. `error`: could not be evaluated (missing field, type, budget). */
      readonly kind: 'false' | 'error';
      readonly code?: 'CEL_EVALUATION_ERROR' | 'CEL_BUDGET_EXHAUSTED' | 'CEL_NOT_BOOLEAN';
      readonly message?: string;
    };

/** One variable path the condition reads and what it held, quoted and bounded. */
export interface Observation {
  readonly path: string;
  /** JSON text (cut at MAX_OBSERVED_CHARS), or `missing`. */
  readonly value: string;
}

export interface CompiledCondition {
  readonly expression: string;
  evaluate(variables: ConditionVariables, budget?: number): ConditionOutcome;
  /** The values of the variable paths the expression reads (for denials). */
  observe(variables: ConditionVariables): readonly Observation[];
}

// Minimal structural view of cel.expr.Expr (protobuf-es messages).
interface ExprNode {
  id: bigint;
  exprKind:
    | { case: 'identExpr'; value: { name: string } }
    | { case: 'selectExpr'; value: { operand?: ExprNode; field: string; testOnly: boolean } }
    | { case: 'callExpr'; value: { target?: ExprNode; function: string; args: ExprNode[] } }
    | { case: 'listExpr'; value: { elements: ExprNode[] } }
    | {
        case: 'structExpr';
        value: { entries: { keyKind: { case: string; value: unknown }; value?: ExprNode }[] };
      }
    | {
        case: 'comprehensionExpr';
        value: {
          iterVar: string;
          iterVar2: string;
          accuVar: string;
          iterRange?: ExprNode;
          accuInit?: ExprNode;
          loopCondition?: ExprNode;
          loopStep?: ExprNode;
          result?: ExprNode;
        };
      }
    | { case: 'constExpr'; value: unknown }
    | { case: undefined; value?: undefined };
}

type CelModule = typeof Cel;
let loaded: CelModule | undefined;
const require = createRequire(import.meta.url);
function cel(): CelModule {
  loaded ??= require('@bufbuild/cel') as CelModule;
  return loaded;
}

/** The meter of the evaluation in progress (evaluation is synchronous: one at a time). */
const meter = { remaining: 0, exhausted: false };
const COST_FUNCTION = '@portcullis_cost';
/** Operators the planner implements itself (not in the function registry); `@…` names too. */
const PLANNER_OPERATORS: ReadonlySet<string> = new Set(['_&&_', '_||_', '_?_:_', '_[_]']);

let environment: Cel.CelEnv | undefined;
function env(): Cel.CelEnv {
  if (environment !== undefined) return environment;
  const { celEnv, celFunc, CelScalar } = cel();
  // Wraps each loop condition: charges the iteration, and ends the loop once the budget is spent.
  const charge = celFunc(COST_FUNCTION, [CelScalar.DYN, CelScalar.INT], CelScalar.DYN, (cond, weight) => {
    if (meter.exhausted) return false;
    meter.remaining -= Number(weight);
    if (meter.remaining < 0) {
      meter.exhausted = true;
      return false;
    }
    return cond;
  });
  environment = celEnv({ funcs: [charge] });
  return environment;
}

function quoteExpression(expression: string): string {
  return JSON.stringify(expression.length > 200 ? `${expression.slice(0, 200)}…` : expression);
}

/** 1-based line and column of a node, from the parser's offset of it. */
function positionOf(
  expression: string,
  sourceInfo: { positions: Record<string, number> } | undefined,
  id: bigint,
): { line: number; column: number } {
  const offset = sourceInfo?.positions[String(id)] ?? 0;
  const before = expression.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: offset - lineStart + 1 };
}

function children(e: ExprNode): ExprNode[] {
  const k = e.exprKind;
  switch (k.case) {
    case 'selectExpr':
      return k.value.operand ? [k.value.operand] : [];
    case 'callExpr':
      return [...(k.value.target ? [k.value.target] : []), ...k.value.args];
    case 'listExpr':
      return k.value.elements;
    case 'structExpr':
      return k.value.entries.flatMap((en) => [
        ...(en.keyKind.case === 'mapKey' ? [en.keyKind.value as ExprNode] : []),
        ...(en.value ? [en.value] : []),
      ]);
    case 'comprehensionExpr': {
      const c = k.value;
      return [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result].filter(
        (x): x is ExprNode => x !== undefined,
      );
    }
    default:
      return [];
  }
}

function nodeCount(e: ExprNode): number {
  let n = 1;
  for (const c of children(e)) n += nodeCount(c);
  return n;
}

/** `a.b.c` rooted at a free identifier: its names and the identifier's node; else undefined. */
function selectPath(e: ExprNode, bound: ReadonlySet<string>): { path: string[]; root: ExprNode } | undefined {
  const k = e.exprKind;
  if (k.case === 'identExpr') return bound.has(k.value.name) ? undefined : { path: [k.value.name], root: e };
  if (k.case === 'selectExpr' && k.value.operand) {
    const base = selectPath(k.value.operand, bound);
    return base === undefined ? undefined : { path: [...base.path, k.value.field], root: base.root };
  }
  return undefined;
}

interface Analysis {
  readonly paths: string[][];
  nextId: bigint;
}

/**
 * Checks names (variables in scope, functions that exist), collects the variable paths read, and
 * wraps every loop condition in the cost function. Mutates the parsed tree.
 */
function analyze(
  e: ExprNode,
  bound: ReadonlySet<string>,
  a: Analysis,
  fail: (code: CelCompileErrorCode, detail: string, at: ExprNode) => never,
  known: (fn: string) => boolean,
): void {
  const k = e.exprKind;
  const selected = selectPath(e, bound);
  if (selected !== undefined) {
    const path = selected.path;
    if (!(CONDITION_VARIABLES as readonly string[]).includes(path[0] ?? '')) {
      fail(
        'CEL_UNKNOWN_VARIABLE',
        `undeclared reference to ${JSON.stringify(path[0])} (variables: ${CONDITION_VARIABLES.join(', ')})`,
        selected.root,
      );
    }
    if (!a.paths.some((p) => p.join('.') === path.join('.'))) a.paths.push(path);
    return;
  }
  switch (k.case) {
    case 'callExpr':
      if (!known(k.value.function)) fail('CEL_UNKNOWN_FUNCTION', `unknown function ${k.value.function}`, e);
      break;
    case 'comprehensionExpr': {
      const c = k.value;
      const inner = new Set([...bound, c.iterVar, c.accuVar, ...(c.iterVar2 ? [c.iterVar2] : [])]);
      for (const x of [c.iterRange, c.accuInit]) if (x) analyze(x, bound, a, fail, known);
      for (const x of [c.loopCondition, c.loopStep, c.result]) if (x) analyze(x, inner, a, fail, known);
      if (c.loopCondition && c.loopStep) {
        const weight = 1 + nodeCount(c.loopStep);
        const id = a.nextId++;
        c.loopCondition = {
          ...c.loopCondition,
          id,
          exprKind: {
            case: 'callExpr',
            value: {
              $typeName: 'cel.expr.Expr.Call',
              function: COST_FUNCTION,
              args: [
                c.loopCondition,
                {
                  $typeName: 'cel.expr.Expr',
                  id: a.nextId++,
                  exprKind: {
                    case: 'constExpr',
                    value: {
                      $typeName: 'cel.expr.Constant',
                      constantKind: { case: 'int64Value', value: BigInt(weight) },
                    },
                  },
                } as ExprNode,
              ],
            },
          } as ExprNode['exprKind'],
        };
      }
      return;
    }
    default:
      break;
  }
  for (const c of children(e)) analyze(c, bound, a, fail, known);
}

function maxId(e: ExprNode): bigint {
  let m = e.id;
  for (const c of children(e)) {
    const x = maxId(c);
    if (x > m) m = x;
  }
  return m;
}

function plainValue(v: unknown): unknown {
  return typeof v === 'bigint' ? Number(v) : v;
}

function observeValue(variables: ConditionVariables, path: readonly string[]): string {
  let v: unknown = variables[path[0] as keyof ConditionVariables];
  for (const field of path.slice(1)) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, field)) return 'missing';
    v = (v as Record<string, unknown>)[field];
  }
  let text: string;
  try {
    text = JSON.stringify(v, (_k, x) => plainValue(x)) ?? 'null';
  } catch {
    text = String(v);
  }
  return text.length > MAX_OBSERVED_CHARS ? `${text.slice(0, MAX_OBSERVED_CHARS)}…` : text;
}

/**
 * Compiles one condition: parsed, names checked, loops metered, planned. Throws CelCompileError
 * with the position of the problem.
 */
export function compileCondition(expression: string): CompiledCondition {
  if (expression.length > MAX_EXPRESSION_LENGTH) {
    throw new CelCompileError('CEL_TOO_LONG', `longer than ${MAX_EXPRESSION_LENGTH} characters`, expression, {
      line: 1,
      column: MAX_EXPRESSION_LENGTH + 1,
    });
  }
  const { parse, plan, isCelError } = cel();
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(expression);
  } catch (err) {
    const e = err as { rawMessage?: string; location?: { start?: { line: number; column: number } } };
    const at = e.location?.start ?? { line: 1, column: 1 };
    const detail = err instanceof RangeError ? 'nested too deeply' : (e.rawMessage ?? (err as Error).message);
    throw new CelCompileError('CEL_SYNTAX', detail, expression, at, { cause: err });
  }
  const root = parsed.expr as unknown as ExprNode;
  const sourceInfo = parsed.sourceInfo as unknown as { positions: Record<string, number> } | undefined;
  const funcs = env().funcs;
  const analysis: Analysis = { paths: [], nextId: maxId(root) + 1n };
  analyze(
    root,
    new Set(),
    analysis,
    (code, detail, at) => {
      throw new CelCompileError(code, detail, expression, positionOf(expression, sourceInfo, at.id));
    },
    (fn) => fn.startsWith('@') || PLANNER_OPERATORS.has(fn) || funcs.find(fn) !== undefined,
  );
  const baseCost = nodeCount(root);
  const program = plan(env(), parsed);
  const paths = analysis.paths.slice(0, MAX_OBSERVED_PATHS);
  return {
    expression,
    evaluate(variables, budget = DEFAULT_COST_BUDGET) {
      meter.remaining = budget - baseCost;
      meter.exhausted = meter.remaining < 0;
      let result: unknown;
      try {
        result = program(variables as Record<string, Cel.CelInput>);
      } catch (err) {
        result = err instanceof Error ? err : new Error(String(err));
      }
      if (meter.exhausted) {
        return {
          holds: false,
          kind: 'error',
          code: 'CEL_BUDGET_EXHAUSTED',
          message: `cost budget of ${budget} exhausted`,
        };
      }
      if (result === true) return { holds: true };
      if (result === false) return { holds: false, kind: 'false' };
      if (isCelError(result) || result instanceof Error) {
        return { holds: false, kind: 'error', code: 'CEL_EVALUATION_ERROR', message: result.message };
      }
      return {
        holds: false,
        kind: 'error',
        code: 'CEL_NOT_BOOLEAN',
        message: `expected a bool, got ${typeof result === 'object' ? 'a value of another type' : typeof result}`,
      };
    },
    observe(variables) {
      return paths.map((p) => ({ path: p.join('.'), value: observeValue(variables, p) }));
    },
  };
}
