// Mutated fixtures (seeded, reproducible) must only ever produce ManifestError, never a TypeError.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  chooseInstance,
  convertList,
  convertManifest,
  DOCKER_V2_LIST_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  guessMIMEType,
  imageInspectInfo,
  isListMIMEType,
  layerInfos,
  ManifestError,
  manifestDigest,
  OCI_INDEX_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  parseList,
  parseManifest,
  serializeManifest,
  updateLayerInfos,
} from '../../../src/image/index.ts';
import { imageFixtures, readFixture } from './fixtures.ts';

// mulberry32: a small deterministic generator, so a failure names a reproducible seed.
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hostileValues: unknown[] = [
  null,
  [],
  {},
  '',
  'x',
  -1,
  -2,
  0.5,
  1e308,
  2 ** 64,
  true,
  [null],
  { a: null },
  'sha256:../../etc/passwd',
  `sha256:${'a'.repeat(64)}`,
  '2016-13-45T99:99:99Z',
  '{"id":1}',
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function mutate(doc: Json, random: () => number): Json {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const containers: (Json[] | { [k: string]: Json })[] = [];
  const walk = (v: Json) => {
    if (v !== null && typeof v === 'object') {
      containers.push(v);
      for (const child of Object.values(v)) walk(child);
    }
  };
  walk(doc);
  const target = pick(containers);
  const keys = Object.keys(target);
  const op = random();
  if (keys.length === 0 || op < 0.1) {
    (target as Record<string, Json>)[
      pick(['config', 'layers', 'manifests', 'fsLayers', 'Layers', 'size', 'platform'])
    ] = structuredClone(pick(hostileValues)) as Json;
  } else if (op < 0.25) {
    delete (target as Record<string, Json>)[pick(keys)];
  } else {
    (target as Record<string, Json>)[pick(keys)] = structuredClone(pick(hostileValues)) as Json;
  }
  return doc;
}

function expectOnlyManifestErrors(f: () => unknown, context: string): void {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ManifestError, `${context}: ${err instanceof Error ? err.stack : String(err)}`);
  }
}

const sources = [
  ...readdirSync(join(imageFixtures, 'manifest/fixtures')).map((f) => `manifest/fixtures/${f}`),
  ...readdirSync(join(imageFixtures, 'internal/manifest/testdata')).map(
    (f) => `internal/manifest/testdata/${f}`,
  ),
].filter((f) => !f.endsWith('non-json.manifest.json'));
const config = readFixture('internal/image/fixtures/schema2-config.json');

function exercise(bytes: Buffer, context: string): void {
  assert.equal(typeof guessMIMEType(bytes), 'string');
  expectOnlyManifestErrors(() => manifestDigest(bytes), `${context} digest`);
  const type = guessMIMEType(bytes);
  if (isListMIMEType(type)) {
    expectOnlyManifestErrors(() => {
      const list = parseList(bytes, type);
      chooseInstance(list, { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
    }, `${context} list`);
    expectOnlyManifestErrors(
      () => convertList(parseList(bytes, type), OCI_INDEX_MEDIA_TYPE),
      `${context} to index`,
    );
    expectOnlyManifestErrors(
      () => convertList(parseList(bytes, type), DOCKER_V2_LIST_MEDIA_TYPE),
      `${context} to list`,
    );
    return;
  }
  let m: ReturnType<typeof parseManifest>;
  try {
    m = parseManifest(bytes, type || undefined);
  } catch (err) {
    assert.ok(
      err instanceof ManifestError,
      `${context} parse: ${err instanceof Error ? err.stack : String(err)}`,
    );
    return;
  }
  expectOnlyManifestErrors(() => serializeManifest(m), `${context} serialize`);
  expectOnlyManifestErrors(() => imageInspectInfo(m, config), `${context} inspect`);
  expectOnlyManifestErrors(
    () =>
      updateLayerInfos(
        m,
        layerInfos(m).map((l) => ({ digest: l.digest, size: l.size, compression: 'gzip' })),
      ),
    `${context} update`,
  );
  for (const target of [OCI_MANIFEST_MEDIA_TYPE, DOCKER_V2_SCHEMA2_MEDIA_TYPE]) {
    expectOnlyManifestErrors(
      () => convertManifest(m, target, { config, diffIDs: layerInfos(m).map((l) => l.digest) }),
      `${context} convert`,
    );
  }
}

describe('mutated fixtures give only typed errors', () => {
  for (let seed = 1; seed <= 8; seed++) {
    test(`seed ${seed}: 300 structural mutations`, () => {
      const random = prng(seed);
      for (let i = 0; i < 300; i++) {
        const source = sources[Math.floor(random() * sources.length)]!;
        let doc = JSON.parse(readFixture(source).toString()) as Json;
        const rounds = 1 + Math.floor(random() * 3);
        for (let r = 0; r < rounds; r++) doc = mutate(doc, random);
        exercise(Buffer.from(JSON.stringify(doc)), `seed ${seed} #${i} ${source}`);
      }
    });
  }

  test('truncated and bit-flipped bytes', () => {
    const random = prng(99);
    for (let i = 0; i < 500; i++) {
      const source = sources[Math.floor(random() * sources.length)]!;
      const bytes = Buffer.from(readFixture(source));
      if (random() < 0.5) {
        exercise(bytes.subarray(0, Math.floor(random() * bytes.length)), `truncated #${i} ${source}`);
      } else {
        const at = Math.floor(random() * bytes.length);
        bytes[at] = (bytes[at] ?? 0) ^ (1 << Math.floor(random() * 8));
        exercise(bytes, `flipped #${i} ${source}`);
      }
    }
  });
});
