import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DockerError, DockerTransport } from '../../../../src/image/transports/docker/index.ts';
import { readConformanceJson } from '../../../helpers/conformance.ts';

interface Case {
  readonly fn: string;
  readonly input: string;
  readonly valid: boolean;
  readonly normalized?: string;
  readonly unknownDigest?: boolean;
  readonly id: number;
}

const cases = readConformanceJson<{ cases: Case[] }>('reference-cases.json').cases.filter((c) =>
  c.fn.startsWith('docker transport ParseReference'),
);
const transport = new DockerTransport({
  env: {},
  home: '/nonexistent',
  defaultLookaside: 'file:///nonexistent',
});

describe('docker transport ParseReference (conformance)', () => {
  it('has the upstream cases', () => assert.ok(cases.length >= 10));
  for (const c of cases) {
    it(`#${c.id} ${JSON.stringify(c.input)} ${c.valid ? 'parses' : 'is rejected'}`, () => {
      if (!c.valid) {
        assert.throws(
          () => transport.parseReference(c.input),
          (e: unknown) => e instanceof DockerError && e.code === 'REFERENCE_INVALID',
        );
        return;
      }
      const ref = transport.parseReference(c.input);
      assert.equal(ref.ref.toString(), c.normalized);
      assert.equal(ref.isUnknownDigest, c.unknownDigest);
      // stringWithinTransport round-trips
      const again = transport.parseReference(ref.stringWithinTransport());
      assert.equal(again.stringWithinTransport(), ref.stringWithinTransport());
    });
  }
});

describe('docker reference policy scopes', () => {
  const table = [
    {
      input: '//example.com/ns/repo:tag',
      identity: 'example.com/ns/repo:tag',
      namespaces: ['example.com/ns/repo', 'example.com/ns', 'example.com', '*.com'],
    },
    {
      input: '//example.com/ns/repo@@unknown-digest@@',
      identity: 'example.com/ns/repo',
      namespaces: ['example.com/ns', 'example.com', '*.com'],
    },
    {
      input: '//busybox',
      identity: 'docker.io/library/busybox:latest',
      namespaces: ['docker.io/library/busybox', 'docker.io/library', 'docker.io', '*.io'],
    },
  ];
  for (const t of table) {
    it(`${t.input} has identity ${t.identity}`, () => {
      const ref = transport.parseReference(t.input);
      assert.equal(ref.policyConfigurationIdentity(), t.identity);
      assert.deepEqual(ref.policyConfigurationNamespaces(), t.namespaces);
    });
  }
  it('rejects an empty policy scope', () => {
    assert.throws(() => transport.validatePolicyConfigurationScope(''), { code: 'REFERENCE_INVALID' });
  });
});
