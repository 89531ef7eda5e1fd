// Policy reports of running images: sorted results, timestamps kept while a result stands, a
// namespace split over several reports before etcd's size limit, stable content fingerprints.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fingerprint, type KnownResult, namespaceReports, resultKey } from '../../src/kube/reports.ts';
import type { ImageFinding } from '../../src/policy/index.ts';

const finding = (
  owner: string,
  image: string,
  result: ImageFinding['result'] = 'pass',
  message = 'signed',
): ImageFinding => ({
  namespace: 'team',
  owner: { apiVersion: 'apps/v1', kind: 'Deployment', name: owner, uid: `uid-${owner}` },
  image,
  result,
  mode: result === 'pass' ? undefined : 'enforce',
  message,
  policies: 'ClusterImagePolicy/signed',
  digest: undefined,
  pods: 2,
  ownerNote: undefined,
});

describe('namespaceReports', () => {
  it('one report with a summary and one sorted result per image per owner', () => {
    const [report, ...rest] = namespaceReports(
      'team',
      [finding('web', 'b:v1', 'fail', 'no signature'), finding('api', 'a:v1'), finding('web', 'a:v1')],
      new Map(),
      1000,
    );
    assert.equal(rest.length, 0);
    assert.equal(report?.name, 'portcullis-images');
    assert.deepEqual(report?.summary, { pass: 2, fail: 1, warn: 0, error: 0, skip: 0 });
    assert.deepEqual(
      report?.results.map((r) => `${r.resources[0]?.name} ${r.properties.image} ${r.result}`),
      ['api a:v1 pass', 'web a:v1 pass', 'web b:v1 fail'],
    );
    assert.deepEqual(report?.results[2], {
      source: 'portcullis',
      policy: 'ClusterImagePolicy/signed',
      rule: 'image-trust',
      category: 'Image Trust',
      result: 'fail',
      scored: true,
      timestamp: { seconds: 1000, nanos: 0 },
      message: 'no signature',
      resources: [
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'team', uid: 'uid-web' },
      ],
      properties: { image: 'b:v1', pods: '2', mode: 'enforce' },
    });
  });

  it('a result keeps its timestamp while it says the same, and gets a new one when it changes', () => {
    const known = new Map<string, KnownResult>([
      [resultKey('uid-web', 'a:v1'), { result: 'pass', message: 'signed', seconds: 10 }],
      [resultKey('uid-web', 'b:v1'), { result: 'pass', message: 'signed', seconds: 10 }],
    ]);
    const [report] = namespaceReports(
      'team',
      [finding('web', 'a:v1'), finding('web', 'b:v1', 'fail')],
      known,
      99,
    );
    assert.deepEqual(
      report?.results.map((r) => r.timestamp.seconds),
      [10, 99],
    );
  });

  it('no report for a namespace without results', () => {
    assert.deepEqual(namespaceReports('team', [], new Map(), 1), []);
  });

  it('splits a namespace before the size limit, each owner in one report, others untouched by a new owner', () => {
    const owners = Array.from({ length: 400 }, (_, i) => `app-${i}`);
    const findings = owners.flatMap((o) => [
      finding(o, 'registry.example/a:v1'),
      finding(o, 'registry.example/b:v1'),
    ]);
    const limit = 40_000;
    const reports = namespaceReports('team', findings, new Map(), 1, limit);
    assert.ok(reports.length > 1);
    for (const r of reports) assert.ok(JSON.stringify(r.results).length <= limit, `${r.name} too large`);
    assert.equal(
      reports.reduce((n, r) => n + r.results.length, 0),
      800,
    );
    const where = new Map<string, Set<string>>();
    for (const r of reports) {
      for (const res of r.results) {
        const uid = res.resources[0]!.uid;
        where.set(uid, (where.get(uid) ?? new Set()).add(r.name));
      }
    }
    assert.ok(
      [...where.values()].every((names) => names.size === 1),
      'an owner spans reports',
    );
    assert.match(reports[0]!.name, /^portcullis-images-\d+-of-\d+$/);

    const grown = namespaceReports(
      'team',
      [...findings, finding('newcomer', 'registry.example/a:v1')],
      new Map(),
      1,
      limit,
    );
    assert.equal(grown.length, reports.length);
    const changed = grown.filter(
      (g, i) => fingerprint(g.summary, g.results) !== fingerprint(reports[i]!.summary, reports[i]!.results),
    );
    assert.equal(changed.length, 1, 'only the report of the new owner changes');
  });
});

describe('fingerprint', () => {
  it('is the same for a report as written and as the API server returns it (keys reordered, extra fields)', () => {
    const [report] = namespaceReports('team', [finding('web', 'a:v1', 'fail', 'no')], new Map(), 5);
    const served = JSON.parse(JSON.stringify(report)) as {
      summary: Record<string, number>;
      results: Record<string, unknown>[];
    };
    const reordered = served.results.map((r) => Object.fromEntries(Object.entries(r).reverse()));
    assert.equal(
      fingerprint({ skip: 0, error: 0, warn: 0, fail: 1, pass: 0 }, reordered),
      fingerprint(report!.summary, report!.results),
    );
    const edited = [{ ...reordered[0], message: 'edited by hand' }];
    assert.notEqual(fingerprint(served.summary, edited), fingerprint(report!.summary, report!.results));
  });
});
