// The conformance vectors and upstream fixture files the tests read, kept in test/fixtures/
// (their provenance is in test/fixtures/README.md).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const conformanceUrl = new URL('../fixtures/', import.meta.url);
export const conformanceDir = fileURLToPath(conformanceUrl);

export function conformancePath(relative: string): string {
  return fileURLToPath(new URL(relative, conformanceUrl));
}

export function readConformanceJson<T>(relative: string): T {
  return JSON.parse(readFileSync(conformancePath(relative), 'utf8')) as T;
}
