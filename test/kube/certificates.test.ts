import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { CertificateController, type CertificateData } from '../../src/kube/certificates.ts';
import { LeaderElector } from '../../src/kube/leader.ts';
import { planRotation, type RotationSettings } from '../../src/webhook/cert-rotation.ts';
import { createLogger } from '../../src/webhook/log.ts';
import { SecretCertificateSource } from '../../src/webhook/tls.ts';
import { FakeCluster } from './fake-cluster.ts';

const NS = 'portcullis';
const SECRET = 'portcullis-tls';
const settings: RotationSettings = {
  hosts: ['portcullis.portcullis.svc'],
  caName: 'portcullis-ca',
  caValidityMs: 3_600_000,
  caRenewBeforeMs: 1_200_000,
  certValidityMs: 600_000,
  certRenewBeforeMs: 200_000,
  bundleDelayMs: 1000,
};

function cluster(): FakeCluster {
  const c = new FakeCluster();
  c.apply('secrets', {
    metadata: { name: SECRET, namespace: NS, labels: { app: 'portcullis' } },
    type: 'Opaque',
  });
  const webhook = (name: string) => ({ name, clientConfig: {} });
  c.putWebhookConfiguration('validating', {
    metadata: { name: 'portcullis' },
    webhooks: [webhook('validate.portcullis.dev')],
  });
  c.putWebhookConfiguration('mutating', {
    metadata: { name: 'portcullis' },
    webhooks: [webhook('pin.portcullis.dev')],
  });
  c.putWebhookConfiguration('validating', {
    metadata: { name: 'someone-else' },
    webhooks: [webhook('other.example.com')],
  });
  return c;
}

function replica(c: FakeCluster, identity: string) {
  const leader = new LeaderElector(c, {
    namespace: NS,
    name: 'portcullis-controller',
    identity,
    leaseDurationSeconds: 15,
    retryPeriodMs: 60_000,
    now: () => new Date(),
    onError: () => {},
  });
  let log = '';
  const logger = createLogger(
    'info',
    new Writable({
      write(chunk, _e, done) {
        log += chunk.toString();
        done();
      },
    }),
  );
  const source = new SecretCertificateSource(settings.hosts, logger);
  const seen: (CertificateData | undefined)[] = [];
  const notes: string[] = [];
  const controller = new CertificateController({
    api: c,
    leader,
    namespace: NS,
    secretName: SECRET,
    webhookConfigurations: ['portcullis'],
    plan: (data, now, propagated) => planRotation(data, settings, now, propagated),
    bundleDelayMs: settings.bundleDelayMs,
    onSecret: (data) => {
      seen.push(data);
      source.update(data, `${NS}/${SECRET}`);
    },
    onNote: (n) => notes.push(n),
    onError: (err) => notes.push(`error: ${String(err)}`),
    informer: { baseDelayMs: 10, maxDelayMs: 100, onError: () => {} },
    now: () => new Date(),
    retryMs: 50,
  });
  return { leader, controller, source, seen, notes, log: () => log };
}

async function until(what: string, predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const caBundleOf = (c: FakeCluster, key: string) =>
  c.webhookConfigurations.get(key)?.webhooks?.map((w) => w.clientConfig?.caBundle);

describe('CertificateController', () => {
  it('the Lease holder fills the Secret and the caBundle of its own configurations only; every replica serves from it', async () => {
    const c = cluster();
    const a = replica(c, 'a');
    const b = replica(c, 'b');
    try {
      await Promise.all([a.controller.start(), b.controller.start()]);
      assert.equal(await a.leader.tryAcquireOrRenew(), true);
      assert.equal(await b.leader.tryAcquireOrRenew(), false);
      await until(
        'both replicas serve',
        () => a.source.current() !== undefined && b.source.current() !== undefined,
      );
      const secret = c.get('secrets', NS, SECRET);
      const data = secret?.data as Record<string, string>;
      assert.deepEqual(Object.keys(data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
      assert.deepEqual(secret?.metadata?.labels, { app: 'portcullis' }, 'the rest of the Secret is kept');
      assert.equal(a.source.current()?.cert.toString('base64'), data['tls.crt']);
      assert.equal(b.source.current()?.cert.toString('base64'), data['tls.crt']);
      await until('caBundle set', () => caBundleOf(c, 'mutating/portcullis')?.[0] !== undefined);
      assert.deepEqual(caBundleOf(c, 'validating/portcullis'), [data['ca.crt']]);
      assert.deepEqual(caBundleOf(c, 'mutating/portcullis'), [data['ca.crt']]);
      assert.deepEqual(caBundleOf(c, 'validating/someone-else'), [undefined]);
      const ca = new X509Certificate(Buffer.from(data['ca.crt'] as string, 'base64'));
      assert.ok(new X509Certificate(a.source.current()!.cert).verify(ca.publicKey));
      assert.ok(
        a.notes.some((n) => /no CA yet/.test(n)),
        a.notes.join('\n'),
      );
      assert.deepEqual(b.notes, [], 'the other replica writes nothing');
    } finally {
      await Promise.all([a.controller.stop(), b.controller.stop()]);
    }
  });

  it('garbage written into the Secret: the replicas keep serving what they have, and the Lease holder repairs it', async () => {
    const c = cluster();
    const a = replica(c, 'a');
    const b = replica(c, 'b');
    try {
      await Promise.all([a.controller.start(), b.controller.start()]);
      await a.leader.tryAcquireOrRenew();
      await until('b serves', () => b.source.current() !== undefined);
      const served = b.source.current();
      // The replica that does not lead sees garbage first: the Lease holder is not running rounds.
      a.leader.stop();
      const secret = c.get('secrets', NS, SECRET)!;
      c.apply('secrets', {
        ...secret,
        data: { ...(secret.data as object), 'tls.crt': Buffer.from('garbage').toString('base64') },
      });
      await until('b refused the Secret', () => /tls certificate Secret refused/.test(b.log()));
      assert.equal(b.source.current(), served, 'still serving the previous certificate');
      assert.match(b.log(), /"err":"tls\.crt: no PEM certificate found"/);
      await a.leader.tryAcquireOrRenew();
      await until('repaired', () => b.source.current() !== served && b.source.current() !== undefined);
      assert.ok(
        a.notes.some((n) => /tls\.crt: no PEM certificate found/.test(n)),
        a.notes.join('\n'),
      );
    } finally {
      await Promise.all([a.controller.stop(), b.controller.stop()]);
    }
  });

  it('a missing Secret is an error the Lease holder retries, never a crash', async () => {
    const c = cluster();
    c.remove('secrets', NS, SECRET);
    const a = replica(c, 'a');
    try {
      await a.controller.start();
      await a.leader.tryAcquireOrRenew();
      await until('the error', () =>
        a.notes.some((n) => /certificate secret portcullis\/portcullis-tls not found/.test(n)),
      );
      assert.equal(a.source.current(), undefined);
      c.apply('secrets', { metadata: { name: SECRET, namespace: NS }, type: 'Opaque' });
      await until('filled after the retry', () => a.source.current() !== undefined);
    } finally {
      await a.controller.stop();
    }
  });
});
