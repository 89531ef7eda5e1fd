import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlatformError, parsePlatforms, platformsKey } from '../../src/policy/index.ts';

describe('parsePlatforms', () => {
  const valid: [string, string][] = [
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/amd64, linux/arm/v7', 'linux/amd64,linux/arm/v7'],
    ['all', 'all'],
  ];
  for (const [text, key] of valid) {
    it(`${JSON.stringify(text)} has the key ${key}`, () => {
      assert.equal(platformsKey(parsePlatforms(text)), key);
    });
  }

  for (const text of ['', 'linux', 'linux/amd64/v1/x', 'linux/amd64,', 'linux/am d64', 'ALL/']) {
    it(`${JSON.stringify(text)} is refused`, () => {
      assert.throws(
        () => parsePlatforms(text),
        (err: unknown) => err instanceof PlatformError && err.code === 'PLATFORM_INVALID',
      );
    });
  }
});
