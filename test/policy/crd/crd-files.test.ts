import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { policyCrd } from '../../../src/policy/crd/schema.ts';
import type { PolicyKind } from '../../../src/policy/crd/types.ts';
import { EXCEPTION_CRD_FILE, readCrdFile, renderCrd, renderExceptionCrd } from './crd-files.ts';

const kinds: PolicyKind[] = ['ClusterImagePolicy', 'ImagePolicy'];

describe('charts/portcullis/crds', () => {
  for (const kind of kinds) {
    it(`${kind}: the committed file is what schema.ts renders (regenerate with crd-files.ts --write)`, () => {
      assert.equal(readCrdFile(kind), renderCrd(kind));
    });
  }

  it('ImageTrustException: the committed file is what exception-schema.ts renders', () => {
    assert.equal(readFileSync(EXCEPTION_CRD_FILE, 'utf8'), renderExceptionCrd());
  });

  it('only the ClusterImagePolicy has a namespaceSelector', () => {
    const props = (kind: PolicyKind) => {
      const crd = policyCrd(kind) as {
        spec: {
          versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: object } } } } }[];
        };
      };
      return Object.keys(crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties);
    };
    assert.ok(props('ClusterImagePolicy').includes('namespaceSelector'));
    assert.ok(!props('ImagePolicy').includes('namespaceSelector'));
  });
});
