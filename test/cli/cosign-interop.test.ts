// `portcullis policy eval` on images signed by the real cosign, v3.1.3 and v2.4.1, every way they
// sign (test/helpers/cosign-variants.ts), through the docker transport and a loopback Distribution
// registry: each case's verdict and its exact reason, under a policy that wants the signature to
// name the repository (matchRepository) and under one that also accepts digest-only signatures.
// Skips with a note when a cosign binary is absent (scripts/build-tools.sh builds both).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeAllAgents } from '../../src/image/transports/docker/index.ts';
import { runCli } from '../helpers/cli.ts';
import {
  COSIGN_CASES,
  type CosignCase,
  cosignMissing,
  cosignPolicyJson,
  makeCosignCases,
} from '../helpers/cosign-variants.ts';
import { expectedCosignVerdict } from '../helpers/cosign-verdicts.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';

const NAMESPACE = 'interop';

describe('policy eval on images signed by the real cosign', { skip: cosignMissing() }, () => {
  let registry: TestRegistry;
  let work: string;
  let cases: CosignCase[] = [];

  before(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'portcullis-cosign-interop-'));
    await mkdir(join(work, 'registries.d'));
    await writeFile(join(work, 'registries.conf'), '');
    const made = await makeCosignCases(registry, NAMESPACE, work);
    cases = made.cases;
    for (const digestOnly of [false, true]) {
      await writeFile(
        join(work, `policy-${digestOnly}.json`),
        cosignPolicyJson(registry.host, NAMESPACE, made.keys, digestOnly),
      );
    }
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
    await closeAllAgents();
  });

  async function evaluate(image: string, digestOnly: boolean) {
    const r = await runCli(
      [
        'policy',
        'eval',
        '--json',
        '--policy',
        join(work, `policy-${digestOnly}.json`),
        '--tls-verify=false',
        '--registries-conf',
        join(work, 'registries.conf'),
        '--registries.d',
        join(work, 'registries.d'),
        `docker://${image}`,
      ],
      { HOME: work },
    );
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    const e = JSON.parse(r.stdout);
    assert.equal(r.code, e.allowed ? 0 : 1);
    const accepted = (e.requirements[0]?.signatures ?? []).find((s: { accepted: boolean }) => s.accepted);
    return {
      verdict: e.allowed ? { allowed: true } : { allowed: false, code: e.code, reason: e.reason },
      accepted,
    };
  }

  for (const [i, spec] of COSIGN_CASES.entries()) {
    for (const digestOnly of [false, true]) {
      const what = `${spec.kind}${spec.attest === undefined ? '' : ` (--type ${spec.attest[0]})`}`;
      it(`${what}, ${digestOnly ? 'digest-only signatures accepted' : 'matchRepository'}`, async () => {
        const c = cases[i];
        assert.ok(c !== undefined && c.kind === spec.kind);
        const want = expectedCosignVerdict(c, digestOnly);
        const got = await evaluate(c.image, digestOnly);
        assert.deepEqual(got.verdict, want.verdict);
        if (want.accepted === undefined) return;
        assert.deepEqual(
          {
            referrer: typeof got.accepted?.referrer === 'string',
            digestOnly: got.accepted?.digestOnly === true,
            dockerReference: got.accepted?.dockerReference,
          },
          want.accepted,
        );
      });
    }
  }
});
