// containers/image fixture files under test/fixtures/containers-image.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { conformanceDir } from '../../helpers/conformance.ts';

export const imageFixtures = join(conformanceDir, 'containers-image');

/** A file under containers-image/, e.g. `manifest/fixtures/v2s2.manifest.json`. */
export function readFixture(path: string): Buffer {
  return readFileSync(join(imageFixtures, path));
}

export const manifestFixture = (name: string): Buffer => readFixture(`manifest/fixtures/${name}`);
export const internalFixture = (name: string): Buffer => readFixture(`internal/manifest/testdata/${name}`);
