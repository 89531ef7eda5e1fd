import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { lineProgress, progressFor, ttyProgress } from '../../src/cli/progress.ts';
import type { Digest } from '../../src/image/digest.ts';

const info = { digest: `sha256:${'ab'.repeat(32)}` as Digest, size: 2048 };

function capture(tty: boolean): { out: PassThrough & { isTTY?: boolean }; text: () => string } {
  const out: PassThrough & { isTTY?: boolean } = new PassThrough();
  out.isTTY = tty;
  let text = '';
  out.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return { out, text: () => text };
}

test('a terminal gets one redrawn bar per blob that ends in done or skipped', () => {
  const { out, text } = capture(true);
  const p = ttyProgress(out);
  const bar = p.blobStarted('blob', info);
  bar.advance(1024);
  bar.advance(1024);
  bar.done();
  p.blobSkipped('config', info);
  assert.match(text(), /\x1b\[\d+A/);
  assert.match(text(), /Copying blob abababababab \[=+\] 2\.0KiB \/ 2\.0KiB done/);
  assert.match(text(), /Copying config abababababab .* skipped: already exists/);
});

test("without a terminal the lines are skopeo's", () => {
  const { out, text } = capture(false);
  const p = lineProgress(out);
  p.blobStarted('blob', info).done();
  p.message('Writing manifest to image destination');
  assert.equal(text(), `Copying blob ${info.digest}\nWriting manifest to image destination\n`);
});

test('progressFor picks by TTY and --quiet', () => {
  assert.equal(progressFor(capture(false).out, true), undefined);
  const tty = capture(true);
  progressFor(tty.out, false)?.message('x');
  assert.equal(tty.text(), 'x\n');
});
