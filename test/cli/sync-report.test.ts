import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildSyncReport, type JobOutcome, reportConfigMapData } from '../../src/cli/sync-report.ts';
import { CopyError, type CopyResult } from '../../src/image/copy/index.ts';
import { type Digest, digestOf } from '../../src/image/digest.ts';
import { DockerError } from '../../src/image/transports/docker/errors.ts';

const digest: Digest = digestOf('manifest');
const copied: CopyResult = {
  manifest: new Uint8Array(),
  mimeType: 'application/vnd.oci.image.manifest.v1+json',
  manifestDigest: digest,
  skipped: false,
  signatures: { copied: 2, created: 1, referrers: 1, attestations: 1 },
};
const job = (n: number, rest: Partial<JobOutcome> = {}): JobOutcome => ({
  source: `docker://origin.example/team/app:${n}`,
  destination: `docker://mirror.example/app:${n}`,
  ...rest,
});

describe('sync report', () => {
  const cases: { name: string; job: JobOutcome; result: string; code?: string }[] = [
    { name: 'a copied image', job: job(1, { result: copied }), result: 'copied' },
    { name: 'a skipped image', job: job(2, { result: { ...copied, skipped: true } }), result: 'skipped' },
    {
      name: 'a policy rejection',
      job: job(3, { error: new CopyError('SOURCE_REJECTED', 'source image rejected: no signature') }),
      result: 'rejected',
      code: 'SOURCE_REJECTED',
    },
    {
      name: 'a registry error',
      job: job(4, { error: new DockerError('UNAUTHORIZED', 'writing blob: authentication required') }),
      result: 'failed',
      code: 'UNAUTHORIZED',
    },
    { name: 'an image never started', job: job(5), result: 'not-attempted' },
  ];
  for (const c of cases) {
    test(`${c.name} is reported as ${c.result}`, () => {
      const [image] = buildSyncReport(new Date(0), new Date(1000), [c.job]).images;
      assert.equal(image?.result, c.result);
      assert.equal(image?.error?.code, c.code);
      assert.equal(image?.digest, c.job.result?.manifestDigest);
    });
  }

  test('the summary counts every outcome', () => {
    const report = buildSyncReport(
      new Date(0),
      new Date(1000),
      cases.map((c) => c.job),
    );
    assert.deepEqual(report.summary, {
      images: 5,
      copied: 1,
      skipped: 1,
      rejected: 1,
      failed: 1,
      'not-attempted': 1,
    });
    assert.equal(report.startedAt, '1970-01-01T00:00:00.000Z');
  });

  test('a report too large for its ConfigMap keeps only the images that did not succeed', () => {
    const many = Array.from({ length: 200 }, (_, i) => job(i, { result: copied }));
    const report = buildSyncReport(new Date(0), new Date(1), [...many, cases[3]!.job]);
    const full = reportConfigMapData(report, 1_000_000);
    assert.equal(JSON.parse(full['report.json']!).images.length, 201);
    const cut = reportConfigMapData(report, 10_000);
    const kept = JSON.parse(cut['report.json']!);
    assert.deepEqual(
      kept.images.map((i: { result: string }) => i.result),
      ['failed'],
    );
    assert.equal(JSON.parse(cut['summary.json']!).copied, 200);
  });
});
