// Attestation policies, the parts that scale with input: evaluations per second of a typical
// provenance condition compiled once (goal: at least 100,000/s on one core), the cost of compiling
// it, and reading a statement at the 16 MiB cap (a synthetic SPDX SBOM: the nesting scan, JSON.parse
// and a condition over every package).
// Run: node_modules/.bin/node test/bench/attestation.bench.ts
import { readFileSync } from 'node:fs';
import { MAX_STATEMENT_BYTES } from '../../src/image/signature/attestation/index.ts';
import { compileCondition } from '../../src/image/signature/cel/index.ts';
import { parseStatement } from '../../src/image/signature/sigstore/index.ts';

const provenance = JSON.parse(
  readFileSync(new URL('../fixtures/attestations/slsa-provenance-v1.json', import.meta.url), 'utf8'),
);
const GENERATOR =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.0.0';
const CONDITION = `predicate.runDetails.builder.id == "${GENERATOR}" && predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/example-org/shop-api"`;
const vars = {
  predicate: provenance,
  subject: [{ name: 'registry.example/shop-api', digest: { sha256: 'ab'.repeat(32) } }],
  predicateType: 'https://slsa.dev/provenance/v1',
  reference: 'registry.example/shop-api:1.4.2',
  digest: `sha256:${'ab'.repeat(32)}`,
};

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

let t = performance.now();
const condition = compileCondition(CONDITION);
console.log(`compile (first, loads @bufbuild/cel): ${(performance.now() - t).toFixed(1)} ms`);
t = performance.now();
for (let i = 0; i < 100; i++) compileCondition(CONDITION);
console.log(`compile (warm): ${((performance.now() - t) / 100).toFixed(3)} ms each`);

const rates: number[] = [];
for (let run = 0; run < 5; run++) {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 1000) {
    for (let i = 0; i < 1000; i++) if (!condition.evaluate(vars).holds) throw new Error('condition failed');
    n += 1000;
  }
  rates.push(n / ((performance.now() - start) / 1000));
}
console.log(
  `provenance condition: ${Math.round(median(rates)).toLocaleString('en')} evaluations/s (median of 5 one-second runs, goal >= 100,000)`,
);

const packages = [];
let size = 0;
for (let i = 0; size < MAX_STATEMENT_BYTES - 4096; i++) {
  const p = {
    SPDXID: `SPDXRef-Package-npm-pkg${i}-${(i * 7919).toString(16)}`,
    name: `pkg${i}`,
    versionInfo: '1.2.3',
    downloadLocation: 'NOASSERTION',
    licenseConcluded: 'MIT',
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: `pkg:npm/pkg${i}@1.2.3`,
      },
    ],
  };
  size += JSON.stringify(p).length + 1;
  packages.push(p);
}
const statement = Buffer.from(
  JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: vars.subject,
    predicateType: 'https://spdx.dev/Document',
    predicate: { spdxVersion: 'SPDX-2.3', packages },
  }),
);
const heapBefore = process.memoryUsage().heapUsed;
const parseTimes: number[] = [];
let parsed: ReturnType<typeof parseStatement> | undefined;
for (let i = 0; i < 5; i++) {
  t = performance.now();
  parsed = parseStatement(statement, { maxBytes: MAX_STATEMENT_BYTES, maxDepth: 64 });
  parseTimes.push(performance.now() - t);
}
const heap = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
const sbomCondition = compileCondition(
  '!predicate.packages.exists(p, p.name == "event-stream" && p.versionInfo == "3.3.6")',
);
const evalTimes: number[] = [];
for (let i = 0; i < 5; i++) {
  t = performance.now();
  const outcome = sbomCondition.evaluate({ ...vars, predicate: parsed?.predicate });
  evalTimes.push(performance.now() - t);
  if (!outcome.holds) throw new Error(JSON.stringify(outcome));
}
console.log(
  `SBOM statement of ${(statement.length / 2 ** 20).toFixed(1)} MiB, ${packages.length.toLocaleString('en')} packages: parse ${median(parseTimes).toFixed(0)} ms, a condition over every package ${median(evalTimes).toFixed(0)} ms (medians of 5), heap after parsing ~${heap.toFixed(0)} MiB`,
);
