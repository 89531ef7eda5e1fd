import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { oneLine, truncate } from '../../src/image/text.ts';

describe('truncate', () => {
  it('keeps text within the limit as it is', () => {
    assert.equal(truncate('nginx:1.27', 32), 'nginx:1.27');
    assert.equal(truncate('a'.repeat(64), 64), 'a'.repeat(64));
  });

  it('cuts longer text to the limit with an ellipsis and the original length', () => {
    const out = truncate(`example.com/${'a'.repeat(300_000)}`, 100);
    assert.equal(out.length, 100);
    assert.ok(out.startsWith('example.com/aaa'));
    assert.ok(out.endsWith('… (300012 characters)'), out);
  });

  it('never splits a surrogate pair', () => {
    const text = '😀'.repeat(100);
    for (let max = 32; max < 64; max++) {
      const out = truncate(text, max);
      assert.ok(out.length <= max);
      assert.equal(out, out.toWellFormed(), `limit ${max}`);
    }
  });
});

describe('oneLine', () => {
  it('folds whitespace and control characters into single spaces', () => {
    assert.equal(oneLine(' a\n\tb\u0000\u0007c\u007f\u0085d\r\n ', 100), 'a b c d');
  });

  it('bounds the folded line', () => {
    const out = oneLine(`x\n${'y'.repeat(10_000)}`, 256);
    assert.equal(out.length, 256);
    assert.doesNotMatch(out, /[\u0000-\u001f\u007f-\u009f]/);
    assert.ok(out.endsWith('… (10002 characters)'), out);
  });
});
