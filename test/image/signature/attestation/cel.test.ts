// CEL conditions: compile errors with their position, missing fields as errors (not false), the
// step budget, values seen, and judging attestations by every condition.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Digest } from '../../../../src/image/digest.ts';
import {
  describeFailure,
  type FoundAttestation,
  judgeAttestations,
} from '../../../../src/image/signature/attestation/index.ts';
import { CelCompileError, compileCondition } from '../../../../src/image/signature/cel/index.ts';
import { fixturePredicate, GENERATOR, SLSA_V1 } from './helpers.ts';

const DIGEST = `sha256:${'cd'.repeat(32)}` as Digest;
const provenance = fixturePredicate('slsa-provenance-v1.json');
const vars = (predicate: unknown = provenance) => ({
  predicate,
  subject: [{ name: 'registry.example/app', digest: { sha256: 'cd'.repeat(32) } }],
  predicateType: SLSA_V1,
  reference: 'registry.example/app:v1',
  digest: DIGEST,
});
const BUILDER = `predicate.runDetails.builder.id == "${GENERATOR}"`;

describe('CEL conditions: compiling', () => {
  const cases: [string, string, string, number, number][] = [
    ['syntax error', 'predicate.runDetails ==', 'CEL_SYNTAX', 1, 22],
    ['unknown variable', 'builder == "x"', 'CEL_UNKNOWN_VARIABLE', 1, 1],
    [
      'unknown variable on a later line',
      'predicateType == "x" &&\n  image.tag == "v1"',
      'CEL_UNKNOWN_VARIABLE',
      2,
      3,
    ],
    [
      'unknown method',
      'predicate.runDetails.builder.id.startWith("https://")',
      'CEL_UNKNOWN_FUNCTION',
      1,
      32,
    ],
    ['too long', `predicateType == "${'x'.repeat(5000)}"`, 'CEL_TOO_LONG', 1, 4097],
    ['nested too deeply', `${'('.repeat(2000)}true${')'.repeat(2000)}`, 'CEL_SYNTAX', 1, 1],
  ];
  for (const [name, expression, code, line, column] of cases) {
    test(`${name}: ${code} at ${line}:${column}`, () => {
      assert.throws(
        () => compileCondition(expression),
        (err: unknown) => {
          assert.ok(err instanceof CelCompileError);
          assert.equal(err.code, code);
          assert.deepEqual([err.line, err.column], [line, column]);
          assert.equal(err.expression, expression);
          assert.match(err.message, new RegExp(`: ${line}:${column}: `));
          return true;
        },
      );
    });
  }

  test('comprehension variables are in scope only inside their loop', () => {
    compileCondition('subject.all(s, s.digest.sha256.size() == 64)');
    assert.throws(() => compileCondition('subject.all(s, true) && s == 1'), { code: 'CEL_UNKNOWN_VARIABLE' });
  });
});

describe('CEL conditions: evaluating', () => {
  test('a provenance condition holds, and is compiled once for many evaluations', () => {
    const c = compileCondition(BUILDER);
    for (let i = 0; i < 3; i++) assert.deepEqual(c.evaluate(vars()), { holds: true });
  });

  test('a false condition says false, with the values it read', () => {
    const c = compileCondition(BUILDER);
    const evil = { runDetails: { builder: { id: 'https://evil.example/builder' } } };
    assert.deepEqual(c.evaluate(vars(evil)), { holds: false, kind: 'false' });
    assert.deepEqual(c.observe(vars(evil)), [
      { path: 'predicate.runDetails.builder.id', value: '"https://evil.example/builder"' },
    ]);
  });

  test('a missing field is an error, not false; has() tests for it', () => {
    const c = compileCondition('predicate.runDetails.builder.version == "2"');
    const outcome = c.evaluate(vars());
    assert.equal(outcome.holds, false);
    assert.ok(!outcome.holds && outcome.kind === 'error' && outcome.code === 'CEL_EVALUATION_ERROR');
    assert.match(outcome.message ?? '', /version/);
    assert.deepEqual(c.observe(vars()), [{ path: 'predicate.runDetails.builder.version', value: 'missing' }]);
    const guarded = compileCondition(
      'has(predicate.runDetails.builder.version) && predicate.runDetails.builder.version == "2"',
    );
    assert.deepEqual(guarded.evaluate(vars()), { holds: false, kind: 'false' });
  });

  test('a result that is not a bool is an error', () => {
    const outcome = compileCondition('predicate.runDetails.builder.id').evaluate(vars());
    assert.ok(!outcome.holds && outcome.code === 'CEL_NOT_BOOLEAN');
  });

  test('an expression that exhausts its budget is an error, and stops early', () => {
    const packages = Array.from({ length: 300 }, (_, i) => ({ name: `p${i}` }));
    const c = compileCondition(
      'predicate.packages.all(a, predicate.packages.all(b, predicate.packages.all(c, a.name != "" || b.name != c.name)))',
    );
    const started = performance.now();
    const outcome = c.evaluate(vars({ packages }));
    const elapsed = performance.now() - started;
    assert.ok(!outcome.holds && outcome.code === 'CEL_BUDGET_EXHAUSTED', JSON.stringify(outcome));
    // 300^3 iterations would be 27 million; the budget stops it after about 1,000,000 units.
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    assert.deepEqual(
      compileCondition('predicate.packages.all(a, a.name != "")').evaluate(vars({ packages })),
      {
        holds: true,
      },
    );
    // The same loop within a smaller budget.
    assert.equal(
      (c.evaluate(vars({ packages: packages.slice(0, 20) }), 100) as { code?: string }).code,
      'CEL_BUDGET_EXHAUSTED',
    );
    assert.deepEqual(c.evaluate(vars({ packages: packages.slice(0, 20) })), { holds: true });
  });

  test('every variable is bound: subject, predicateType, reference, digest', () => {
    const c = compileCondition(
      `subject.exists(s, "sha256:" + s.digest.sha256 == digest) && predicateType == "${SLSA_V1}" && reference.startsWith("registry.example/")`,
    );
    assert.deepEqual(c.evaluate(vars()), { holds: true });
  });

  test('matches() runs in linear time on hostile text (RE2)', () => {
    const c = compileCondition('predicate.text.matches("^(a+)+$")');
    const started = performance.now();
    assert.deepEqual(c.evaluate(vars({ text: `${'a'.repeat(5000)}!` })), { holds: false, kind: 'false' });
    assert.ok(performance.now() - started < 2000);
  });
});

describe('judging attestations', () => {
  const found = (predicate: unknown, layer: string): FoundAttestation => ({
    statement: { type: 'https://in-toto.io/Statement/v1', subject: [], predicateType: SLSA_V1, predicate },
    signer: { kind: 'key', source: 'keyData' },
    location: { via: 'attachment', tag: 'sha256-cd.att', layer: `sha256:${layer.repeat(64)}` as Digest },
  });
  const image = { reference: 'registry.example/app:v1', digest: DIGEST };

  test('the first attestation satisfying every condition decides; the others say why not', () => {
    const conditions = [compileCondition('has(predicate.runDetails)'), compileCondition(BUILDER)];
    const evil = found({ runDetails: { builder: { id: 'https://evil.example/b' } } }, 'a');
    const good = found(provenance, 'b');
    const judged = judgeAttestations([evil, good], conditions, image);
    assert.deepEqual(
      judged.map((j) => j.satisfied),
      [false, true],
    );
    assert.equal(judged[0]!.conditions.length, 2);
    assert.equal(
      describeFailure(judged[0]!),
      `condition ${JSON.stringify(BUILDER)} was false (saw predicate.runDetails.builder.id = "https://evil.example/b") in .att layer sha256:${'a'.repeat(12)}…`,
    );
    assert.equal(describeFailure(judged[1]!), undefined);
  });

  test('a condition in error says so, with the CEL message and what was missing', () => {
    const [j] = judgeAttestations([found({}, 'c')], [compileCondition(BUILDER)], image);
    assert.match(
      describeFailure(j!) ?? '',
      /failed with an error \(CEL_EVALUATION_ERROR\): .*runDetails.* \(saw predicate.runDetails.builder.id = missing\) in \.att layer sha256:c{12}…$/,
    );
  });
});
