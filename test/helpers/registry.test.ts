import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type TestRegistry } from './registry.ts';

describe('test registry helper', () => {
  let anonymous: TestRegistry;
  let basic: TestRegistry;
  before(async () => {
    [anonymous, basic] = await Promise.all([startRegistry(), startRegistry({ users: { alice: 's3cret' } })]);
  });
  after(async () => {
    await Promise.all([anonymous?.stop(), basic?.stop()]);
  });

  it('serves the distribution API anonymously on loopback', async () => {
    const res = await fetch(`${anonymous.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  it('requires htpasswd credentials when users are given', async () => {
    const denied = await fetch(`${basic.url}/v2/`);
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get('www-authenticate') ?? '', /^Basic /);
    const ok = await fetch(`${basic.url}/v2/`, {
      headers: { authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` },
    });
    assert.equal(ok.status, 200);
    const wrong = await fetch(`${basic.url}/v2/`, {
      headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` },
    });
    assert.equal(wrong.status, 401);
  });
});
