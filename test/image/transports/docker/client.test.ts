import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextLink } from '../../../../src/image/transports/docker/client.ts';
import { parseRetryAfter } from '../../../../src/image/transports/docker/errors.ts';

describe('Link pagination header', () => {
  const table: [string | undefined, string | undefined][] = [
    [undefined, undefined],
    ['</v2/r/tags/list?last=b&n=2>; rel="next"', '/v2/r/tags/list?last=b&n=2'],
    ['<https://r.example/v2/_catalog?last=x>; rel=next', 'https://r.example/v2/_catalog?last=x'],
    ['</prev>; rel="prev", </next>; rel="next"', '/next'],
    ['</only-prev>; rel="prev"', undefined],
    ['garbage', undefined],
  ];
  for (const [header, want] of table)
    it(`${JSON.stringify(header)} -> ${want}`, () => assert.equal(nextLink(header), want));
});

describe('Retry-After', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const table: [string | undefined, number | undefined][] = [
    [undefined, undefined],
    ['5', 5],
    [' 0 ', 0],
    ['Thu, 01 Jan 2026 00:00:30 GMT', 30],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    ['soon', undefined],
  ];
  for (const [value, want] of table)
    it(`${JSON.stringify(value)} -> ${want}`, () => assert.equal(parseRetryAfter(value, now), want));
});
