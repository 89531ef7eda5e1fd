import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseNormalizedNamed, sigstoreVerifier } from '../../../src/image/index.ts';
import { DockerTransport } from '../../../src/image/transports/docker/index.ts';
import { combinePolicies } from '../../../src/policy/crd/combine.ts';
import type { ActivePolicy } from '../../../src/policy/crd/source.ts';
import type { PolicyMode } from '../../../src/policy/crd/types.ts';
import { loadPolicy, type TrustPolicy } from '../../../src/policy/index.ts';

const ref = (s: string) => parseNormalizedNamed(s).tagNameOnly();

describe('combinePolicies: every applicable policy must admit', () => {
  let dir: string;
  const engines = new Map<string, TrustPolicy>();
  const policies: Record<string, unknown> = {
    acceptAll: { default: [{ type: 'insecureAcceptAnything' }] },
    rejectDockerHub: {
      default: [{ type: 'insecureAcceptAnything' }],
      transports: { docker: { 'docker.io': [{ type: 'reject' }] } },
    },
    // Most specific scope wins inside one policy: quay.io/ok is accepted although quay.io is rejected.
    quayOnlyOk: {
      default: [{ type: 'insecureAcceptAnything' }],
      transports: {
        docker: { 'quay.io': [{ type: 'reject' }], 'quay.io/ok': [{ type: 'insecureAcceptAnything' }] },
      },
    },
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-combine-'));
    for (const [name, doc] of Object.entries(policies)) {
      await writeFile(join(dir, `${name}.json`), JSON.stringify(doc));
      engines.set(
        name,
        await loadPolicy(join(dir, `${name}.json`), {
          transport: new DockerTransport(),
          sigstore: sigstoreVerifier(),
          context: {},
        }),
      );
    }
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const ready = (name: string, mode: PolicyMode = 'enforce'): ActivePolicy<TrustPolicy> => ({
    key: `ClusterImagePolicy/${name}`,
    mode,
    state: 'ready',
    hash: `h-${name}`,
    generation: 1,
    compiled: engines.get(name)!,
  });

  const cases: {
    name: string;
    members: () => ActivePolicy<TrustPolicy>[];
    image: string;
    want: string | undefined;
  }[] = [
    {
      name: 'all admit: allowed',
      members: () => [ready('acceptAll'), ready('quayOnlyOk')],
      image: 'quay.io/ok/app:1',
      want: 'allowed',
    },
    {
      name: 'one refuses: denied, naming that policy',
      members: () => [ready('acceptAll'), ready('rejectDockerHub')],
      image: 'busybox:1',
      want: 'denied:ClusterImagePolicy/rejectDockerHub',
    },
    {
      name: 'the most specific scope applies within each policy',
      members: () => [ready('quayOnlyOk')],
      image: 'quay.io/other/app:1',
      want: 'denied:ClusterImagePolicy/quayOnlyOk',
    },
    {
      name: 'a policy with no valid version is an error for every image',
      members: () => [
        ready('acceptAll'),
        {
          key: 'ImagePolicy/ns/broken',
          mode: 'enforce',
          state: 'failed',
          reason: 'ReferenceNotFound: secret absent',
        },
      ],
      image: 'quay.io/ok/app:1',
      want: 'error:ImagePolicy/ns/broken',
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const v = await combinePolicies(c.members(), 'enforce')!.decideWithoutImage(ref(c.image));
      const got = v === undefined || v.kind === 'allowed' ? v?.kind : `${v.kind}:${v.reason.split(':')[0]}`;
      assert.equal(got, c.want);
    });
  }

  it('groups by mode; no policy of a mode gives undefined', () => {
    const members = [ready('acceptAll', 'warn'), ready('rejectDockerHub')];
    assert.equal(combinePolicies(members, 'audit'), undefined);
    assert.notEqual(
      combinePolicies(members, 'warn')?.policyHash,
      combinePolicies(members, 'enforce')?.policyHash,
    );
  });

  it('is memoized per policies array, and a changed member changes the hash', () => {
    const members = [ready('acceptAll')];
    assert.equal(combinePolicies(members, 'enforce'), combinePolicies(members, 'enforce'));
    const changed = [{ ...ready('acceptAll'), hash: 'h-next' }];
    assert.notEqual(
      combinePolicies(changed, 'enforce')?.policyHash,
      combinePolicies(members, 'enforce')?.policyHash,
    );
  });
});
