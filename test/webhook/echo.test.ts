// Input echoed in answers, warnings, audit annotations and log lines is bounded, and warnings stay
// within what the API server passes on (4096 characters in all, 256 each, no control characters).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appRig, podSpec, post, review, workload } from './rig.ts';

const HUGE = `registry.example/unsigned/${'a'.repeat(300_000)}:1`;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function assertWarningsAccepted(warnings: readonly string[]) {
  for (const w of warnings) {
    assert.ok(w.length <= 256, `a warning of ${w.length} characters`);
    assert.doesNotMatch(w, CONTROL);
  }
  const total = warnings.reduce((n, w) => n + w.length, 0);
  assert.ok(total <= 4096, `warnings of ${total} characters in all`);
}

const pod = (images: readonly string[]) => review('', 'Pod', workload('', 'Pod', podSpec(images)));

describe('echoed input is bounded', () => {
  it('enforce: a 300,000-character image costs a few KiB to deny, its length said', async () => {
    const { app, logs } = appRig();
    const { body, raw } = await post(app, '/validate', pod([HUGE]));
    assert.equal(body.response.allowed, false);
    assert.ok(raw.length < 12 * 1024, `a response of ${raw.length} bytes`);
    assert.match(body.response.status.message, new RegExp(`… \\(${HUGE.length} characters\\)`));
    assert.match(body.response.status.message, /^image "registry\.example\/unsigned\/aaa/);
    for (const value of Object.values<string>(body.response.auditAnnotations))
      assert.ok(value.length <= 4096);
    const line = logs()
      .split('\n')
      .find((l) => l.includes('admission reviewed'));
    assert.ok(line !== undefined && line.length < 12 * 1024, `a log line of ${line?.length} characters`);
  });

  it('warn: the same image is warned about within the warning limits', async () => {
    const { app } = appRig({ mode: 'warn' });
    const { body, raw } = await post(app, '/validate', pod([HUGE, HUGE.replace(':1', ':2')]));
    assert.equal(body.response.allowed, true);
    assert.ok(raw.length < 12 * 1024, `a response of ${raw.length} bytes`);
    assert.equal(body.response.warnings.length, 2);
    assertWarningsAccepted(body.response.warnings);
  });

  it('warn: past 4096 characters of warnings, the last one says how many were left out', async () => {
    const { app } = appRig({ mode: 'warn' });
    const images = Array.from(
      { length: 100 },
      (_, i) => `registry.example/unsigned/${'t'.repeat(150)}-${i}:2`,
    );
    const { body } = await post(app, '/validate', pod(images));
    const warnings: string[] = body.response.warnings;
    assertWarningsAccepted(warnings);
    assert.ok(warnings.length > 10 && warnings.length < 100);
    assert.equal(warnings.at(-1), `portcullis: ${100 - (warnings.length - 1)} more warnings not shown`);
  });

  it('warn: control characters in an image never reach a warning', async () => {
    const { app } = appRig({ mode: 'warn' });
    const { body } = await post(
      app,
      '/validate',
      pod(['registry.example/unsigned/x:1\u0007\u0085\u001b[31m']),
    );
    assert.equal(body.response.warnings.length, 1);
    assertWarningsAccepted(body.response.warnings);
  });

  it('an unknown kind with a 300,000-character name is warned about briefly', async () => {
    const { app } = appRig();
    const { body, raw } = await post(app, '/validate', review('example.com', 'K'.repeat(300_000), {}));
    assert.equal(body.response.allowed, true);
    assert.ok(raw.length < 2048, `a response of ${raw.length} bytes`);
    assertWarningsAccepted(body.response.warnings);
  });

  it('a review whose apiVersion is 300,000 characters is refused in a short message', async () => {
    const { app } = appRig();
    const res = await post(app, '/validate', { ...pod([]), apiVersion: 'v'.repeat(300_000) });
    assert.equal(res.status, 400);
    assert.ok(res.raw.length < 1024, `a response of ${res.raw.length} bytes`);
    assert.match(res.body.response.status.message, /characters\)/);
  });

  it('a uid no API server would send is refused, not echoed', async () => {
    const { app, logs } = appRig();
    const res = await post(app, '/validate', review('', 'Pod', {}, { uid: 'u'.repeat(300_000) }));
    assert.equal(res.status, 400);
    assert.equal(res.body.response.uid, '');
    assert.match(res.body.response.status.message, /request\.uid: expected at most 128 characters/);
    assert.ok(res.raw.length < 1024 && logs().length < 2048);
  });
});
