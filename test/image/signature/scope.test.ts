import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNormalizedNamed } from '../../../src/image/index.ts';
import { parsePolicy, requirementsForImage } from '../../../src/image/signature/index.ts';
import { dockerLikeReference, fakeTransport, pathLikeReference, readJson } from './helpers.ts';

interface ScopeCases {
  readonly policyScopes: Record<string, string[]>;
  readonly cases: {
    inputTransport: string;
    input: string;
    matchedTransport: string | null;
    matched: string | null;
    why: string;
  }[];
  readonly 'dockerNamespaceExamples_from_image/docker/policyconfiguration/naming_test.go': Record<
    string,
    string[]
  >;
}

const data = await readJson<ScopeCases>('policy-scope-lookup-cases.json');

// Each scope gets a distinguishable requirement list: a signedBy whose keyPath names the scope.
function marker(name: string) {
  return [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: `/scope/${name}` }];
}
const policy = parsePolicy(
  JSON.stringify({
    default: marker('(default)'),
    transports: Object.fromEntries(
      Object.entries(data.policyScopes).map(([t, scopes]) => [
        t,
        Object.fromEntries(scopes.map((s) => [s, marker(`${t}:${s}`)])),
      ]),
    ),
  }),
);

describe('policy-scope-lookup-cases.json', () => {
  for (const [i, c] of data.cases.entries()) {
    it(`case ${i}: ${c.inputTransport}:${c.input} -> ${c.matched === null ? 'default' : JSON.stringify(c.matched)} (${c.why})`, () => {
      const ref =
        c.inputTransport === 'docker'
          ? dockerLikeReference(c.input)
          : c.inputTransport === 'atomic'
            ? dockerLikeReference(c.input, fakeTransport('atomic'))
            : pathLikeReference(fakeTransport(c.inputTransport), `/${c.input}`);
      const m = requirementsForImage(policy, ref);
      const req = m.requirements[0];
      assert.ok(req.type === 'signedBy' && req.keys.kind === 'path');
      const expected = c.matched === null ? '/scope/(default)' : `/scope/${c.matchedTransport}:${c.matched}`;
      assert.equal(req.keys.path, expected);
      assert.equal(m.scope ?? null, c.matched);
    });
  }
});

describe('docker namespace examples (naming_test.go)', () => {
  for (const [input, expected] of Object.entries(
    data['dockerNamespaceExamples_from_image/docker/policyconfiguration/naming_test.go'],
  )) {
    it(`${input} -> ${expected.join(', ')}`, () => {
      assert.deepEqual(
        dockerLikeReference(`${parseNormalizedNamed(input).toString()}:tag`).policyConfigurationNamespaces(),
        expected,
      );
    });
  }
});
