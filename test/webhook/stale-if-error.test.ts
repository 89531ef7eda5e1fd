// Stale-if-error on the real components: a real Distribution registry behind a fault-injecting
// proxy, images signed by skopeo, the webhook over HTTPS. A digest verified before is admitted
// (with a warning, an audit annotation, a metric and a log line) while the registry fails
// transiently; nothing else is.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CACHE_LIMITS } from '../../src/cache/index.ts';
import type { RunningServer } from '../../src/server.ts';
import type { Fault, FaultProxy } from '../helpers/fault-proxy.ts';
import { type SignedRegistry, signedRegistry, webhookClient } from './real-server.ts';
import { podSpec, review, workload } from './rig.ts';

const DEADLINE_MS = 3000;

describe('stale-if-error against a real registry behind a fault proxy', () => {
  let fixture: SignedRegistry;
  let proxy: FaultProxy;
  let server: RunningServer;
  let h: string;
  let logged = '';
  let client: ReturnType<typeof webhookClient>;
  const post = (path: string, body: unknown) => client.post(path, body);
  const metric = (name: string) => client.metric(name);
  const pod = (...images: string[]) => review('', 'Pod', workload('', 'Pod', podSpec(images)));

  before(async () => {
    fixture = await signedRegistry();
    ({ proxy, host: h } = fixture);
    const images = ['503', '429', 'reset', 'hang', 'refused', 'definite', 'never'];
    for (const name of images) await fixture.push(`ns/${name}:v1`);
    await fixture.push('ns/unsigned:v1', false);
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logged += chunk.toString();
        done();
      },
    });
    // No fresh caching: every admission asks the registry, so each one meets the fault.
    const cache = { ...DEFAULT_CACHE_LIMITS, allowedTtlMs: 0, deniedTtlMs: 0, digestTtlMs: 0 };
    server = await fixture.replica({ deadlineMs: DEADLINE_MS, logLevel: 'warn', cache }, sink);
    client = webhookClient(server, fixture.ca);
  });
  after(() => fixture?.stop());

  const transient: Array<[string, string, Fault | 'refused']> = [
    ['503', 'a burst of 503 answers', { kind: 'status', status: 503 }],
    [
      '429',
      '429 with a Retry-After beyond the deadline',
      { kind: 'status', status: 429, headers: { 'retry-after': '30' } },
    ],
    ['reset', 'connections reset', { kind: 'reset' }],
    ['hang', 'a registry that accepts and never answers', { kind: 'hang' }],
    ['refused', 'connections refused', 'refused'],
  ];
  for (const [name, what, fault] of transient) {
    it(`admits a digest verified before, with a warning, through ${what}`, async () => {
      const image = `${h}/ns/${name}:v1`;
      const fresh = await post('/mutate', pod(image));
      assert.equal(fresh.allowed, true, JSON.stringify(fresh));
      assert.equal(fresh.warnings, undefined);
      const staleBefore = await metric('portcullis_stale_admissions_total');
      if (fault === 'refused') await proxy.refuse();
      else proxy.set(fault);
      try {
        const stale = await post('/mutate', pod(image));
        assert.equal(stale.allowed, true, JSON.stringify(stale));
        assert.ok(stale.ms < DEADLINE_MS, `answered after ${stale.ms} ms`);
        assert.equal(stale.warnings.length, 1);
        assert.match(
          stale.warnings[0],
          new RegExp(
            `^portcullis: image "${image}" admitted on its verification of \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z, its tag last resolved [\\dT:Z-]+: the registry is failing \\(\\w+\\)$`,
          ),
        );
        assert.match(
          stale.auditAnnotations['stale-if-error'],
          new RegExp(`^${image}@sha256:[0-9a-f]{64} verified `),
        );
        // The pin is the verified digest, as on a fresh admission.
        assert.equal(stale.patch, fresh.patch);
        assert.equal(await metric('portcullis_stale_admissions_total'), staleBefore + 1);
        assert.match(
          logged,
          new RegExp(`"image":"${image}".*"msg":"image admitted from a last-known-good verification"`),
        );
      } finally {
        if (fault === 'refused') await proxy.accept();
        proxy.set({ kind: 'pass' });
        // The registry asked for 30 s without requests, which the transport honours: start the
        // next case afresh, as a restarted replica would.
        if (name === '429') await fixture.env.transport.close();
      }
    });
  }

  it('never admits an image that was never verified', async () => {
    proxy.set({ kind: 'status', status: 503 });
    try {
      const response = await post('/validate', pod(`${h}/ns/never:v1`));
      assert.equal(response.allowed, false);
      assert.match(response.status.message, /could not be verified/);
      assert.ok(response.ms < DEADLINE_MS);
    } finally {
      proxy.set({ kind: 'pass' });
    }
  });

  it('never overrides a definite denial', async () => {
    const image = `${h}/ns/unsigned:v1`;
    assert.equal((await post('/validate', pod(image))).allowed, false);
    proxy.set({ kind: 'status', status: 503 });
    try {
      const response = await post('/validate', pod(image));
      assert.equal(response.allowed, false);
      assert.equal(response.warnings, undefined);
    } finally {
      proxy.set({ kind: 'pass' });
    }
  });

  const definite: Array<[string, Fault]> = [
    ['the manifest is gone (404)', { kind: 'status', status: 404 }],
    ['the registry refuses the credentials (401)', { kind: 'status', status: 401 }],
    ['the registry forbids the pull (403)', { kind: 'status', status: 403 }],
  ];
  for (const [what, fault] of definite) {
    it(`does not stand in for a definite failure: ${what}`, async () => {
      const image = `${h}/ns/definite:v1`;
      assert.equal((await post('/validate', pod(image))).allowed, true);
      proxy.set(fault);
      try {
        const response = await post('/validate', pod(image));
        assert.equal(response.allowed, false, JSON.stringify(response));
        assert.equal(response.auditAnnotations['stale-if-error'], undefined);
      } finally {
        proxy.set({ kind: 'pass' });
      }
    });
  }

  it('answers fresh again, without a warning, once the registry is back', async () => {
    const image = `${h}/ns/503:v1`;
    const forwarded = proxy.forwarded();
    const response = await post('/validate', pod(image));
    assert.equal(response.allowed, true);
    assert.equal(response.warnings, undefined);
    assert.ok(proxy.forwarded() > forwarded, 'the registry was asked');
  });
});
