// Renders charts/portcullis/crds/*.yaml from src/policy/crd/schema.ts.
// Regenerate: node_modules/.bin/node test/policy/crd/crd-files.ts --write
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { toYaml } from '../../../src/kube/client.ts';
import { exceptionCrd } from '../../../src/policy/crd/exception-schema.ts';
import { policyCrd } from '../../../src/policy/crd/schema.ts';
import type { PolicyKind } from '../../../src/policy/crd/types.ts';

export const CRD_FILES: Readonly<Record<PolicyKind, string>> = {
  ClusterImagePolicy: fileURLToPath(
    new URL('../../../charts/portcullis/crds/clusterimagepolicies.yaml', import.meta.url),
  ),
  ImagePolicy: fileURLToPath(new URL('../../../charts/portcullis/crds/imagepolicies.yaml', import.meta.url)),
};

export function renderCrd(kind: PolicyKind): string {
  return `# Generated from src/policy/crd/schema.ts by test/policy/crd/crd-files.ts --write; do not edit.\n${toYaml(policyCrd(kind))}`;
}

export function readCrdFile(kind: PolicyKind): string {
  return readFileSync(CRD_FILES[kind], 'utf8');
}

export const EXCEPTION_CRD_FILE = fileURLToPath(
  new URL('../../../charts/portcullis/crds/imagetrustexceptions.yaml', import.meta.url),
);

export function renderExceptionCrd(): string {
  return `# Generated from src/policy/crd/exception-schema.ts by test/policy/crd/crd-files.ts --write; do not edit.\n${toYaml(exceptionCrd())}`;
}

if (process.argv.includes('--write')) {
  for (const kind of Object.keys(CRD_FILES) as PolicyKind[]) writeFileSync(CRD_FILES[kind], renderCrd(kind));
  writeFileSync(EXCEPTION_CRD_FILE, renderExceptionCrd());
}
