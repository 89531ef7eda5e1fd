// Reads the shared conformance vectors in place (../shared/conformance relative to the repo root).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const conformanceDir = fileURLToPath(new URL('../../../shared/conformance/', import.meta.url));

export function conformancePath(relative: string): string {
  return fileURLToPath(new URL(relative, new URL('../../../shared/conformance/', import.meta.url)));
}

export function readConformanceJson<T>(relative: string): T {
  return JSON.parse(readFileSync(conformancePath(relative), 'utf8')) as T;
}
