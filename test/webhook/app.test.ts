import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Digest } from '../../src/image/index.ts';
import type { Checker } from '../../src/webhook/admit.ts';
import { digestFor } from '../policy/fakes.ts';
import { appRig, podSpec, post, review, workload } from './rig.ts';

const SIGNED = 'registry.example/team/app:1.0';
const UNSIGNED = 'registry.example/unsigned/tool:2';

describe('workload kinds', () => {
  const kinds: Array<[group: string, kind: string, prefix: string]> = [
    ['', 'Pod', 'spec'],
    ['', 'PodTemplate', 'template.spec'],
    ['', 'ReplicationController', 'spec.template.spec'],
    ['apps', 'Deployment', 'spec.template.spec'],
    ['apps', 'ReplicaSet', 'spec.template.spec'],
    ['apps', 'StatefulSet', 'spec.template.spec'],
    ['apps', 'DaemonSet', 'spec.template.spec'],
    ['batch', 'Job', 'spec.template.spec'],
    ['batch', 'CronJob', 'spec.jobTemplate.spec.template.spec'],
  ];
  for (const [group, kind, prefix] of kinds) {
    it(`${kind}: denies naming the image and ${prefix}.containers[1].image`, async () => {
      const { app } = appRig();
      const object = workload(group, kind, podSpec([SIGNED, UNSIGNED]));
      const { status, body } = await post(app, '/validate', review(group, kind, object));
      assert.equal(status, 200);
      assert.equal(body.response.allowed, false);
      assert.equal(body.response.status.code, 403);
      assert.equal(
        body.response.status.message,
        `image "${UNSIGNED}" at ${prefix}.containers[1].image is not trusted: a signature was required, but no signature exists`,
      );
    });
    it(`${kind}: admits when every image is trusted`, async () => {
      const { app } = appRig();
      const object = workload(group, kind, podSpec([SIGNED, 'registry.example/open/x:1']));
      const { body } = await post(app, '/validate', review(group, kind, object));
      assert.deepEqual(body.response, { uid: 'b6f0c0a4-6d1c-4c8e-9d1e-000000000001', allowed: true });
    });
  }

  it('Pod: checks initContainers and ephemeralContainers with their own paths', async () => {
    const { app } = appRig();
    const spec = podSpec([SIGNED], {
      initContainers: [{ name: 'init', image: 'registry.example/unsigned/init:1' }],
      ephemeralContainers: [{ name: 'dbg', image: 'registry.example/unsigned/dbg:1' }],
    });
    const { body } = await post(app, '/validate', review('', 'Pod', workload('', 'Pod', spec)));
    const message: string = body.response.status.message;
    assert.match(message, /"registry\.example\/unsigned\/init:1" at spec\.initContainers\[0\]\.image/);
    assert.match(message, /"registry\.example\/unsigned\/dbg:1" at spec\.ephemeralContainers\[0\]\.image/);
  });

  it('pods/ephemeralcontainers: judges only the ephemeral containers the update adds', async () => {
    const { app, resolver } = appRig();
    const before = workload('', 'Pod', podSpec([UNSIGNED]));
    const after = workload(
      '',
      'Pod',
      podSpec([UNSIGNED], { ephemeralContainers: [{ name: 'dbg', image: SIGNED }] }),
    );
    const options = { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: before };
    const { body } = await post(app, '/validate', review('', 'Pod', after, options));
    assert.equal(body.response.allowed, true);
    assert.deepEqual(resolver.calls, [SIGNED]);
  });

  it('pods/ephemeralcontainers: the legacy EphemeralContainers object is inspected too', async () => {
    const { app } = appRig();
    const object = { kind: 'EphemeralContainers', ephemeralContainers: [{ name: 'dbg', image: UNSIGNED }] };
    const { body } = await post(
      app,
      '/validate',
      review('', 'EphemeralContainers', object, { subResource: 'ephemeralcontainers' }),
    );
    assert.equal(body.response.allowed, false);
    assert.match(body.response.status.message, / at ephemeralContainers\[0\]\.image /);
  });

  it('UPDATE re-judges only images the update introduces', async () => {
    const { app, resolver } = appRig();
    const before = workload('apps', 'Deployment', podSpec([UNSIGNED, SIGNED]));
    const after = workload('apps', 'Deployment', podSpec([UNSIGNED, 'registry.example/team/app:1.1']));
    const { body } = await post(
      app,
      '/validate',
      review('apps', 'Deployment', after, { operation: 'UPDATE', oldObject: before }),
    );
    assert.equal(body.response.allowed, true);
    assert.deepEqual(resolver.calls, ['registry.example/team/app:1.1']);
  });

  const skipped: Array<[string, Record<string, string>]> = [
    ['DELETE', { operation: 'DELETE' }],
    ['CONNECT', { operation: 'CONNECT' }],
    ['the status subresource', { operation: 'UPDATE', subResource: 'status' }],
  ];
  for (const [what, options] of skipped) {
    it(`${what} is admitted without judging images`, async () => {
      const { app, resolver } = appRig();
      const { body } = await post(
        app,
        '/validate',
        review('', 'Pod', workload('', 'Pod', podSpec([UNSIGNED])), options),
      );
      assert.equal(body.response.allowed, true);
      assert.deepEqual(resolver.calls, []);
    });
  }
});

describe('unknown kinds', () => {
  it('are admitted with a warning by default', async () => {
    const { app } = appRig({ unknownKinds: 'allow' });
    const { body } = await post(app, '/validate', review('example.com', 'Widget', { spec: {} }));
    assert.equal(body.response.allowed, true);
    assert.match(body.response.warnings[0], /example\.com\/v1, Kind=Widget/);
  });
  it('are denied when configured', async () => {
    const { app } = appRig({ unknownKinds: 'deny' });
    const { body } = await post(app, '/validate', review('example.com', 'Widget', { spec: {} }));
    assert.equal(body.response.allowed, false);
    assert.match(body.response.status.message, /Kind=Widget/);
  });
  it('a Deployment outside the apps group is an unknown kind', async () => {
    const { app } = appRig({ unknownKinds: 'deny' });
    const object = workload('apps', 'Deployment', podSpec([SIGNED]));
    const { body } = await post(app, '/validate', review('example.com', 'Deployment', object));
    assert.equal(body.response.allowed, false);
  });
});

describe('modes', () => {
  const pod = review('', 'Pod', workload('', 'Pod', podSpec([SIGNED, UNSIGNED])));
  const line = `image "${UNSIGNED}" at spec.containers[1].image is not trusted: a signature was required, but no signature exists`;

  it('enforce denies with status 403 and records the denial for the audit log', async () => {
    const { app } = appRig({ mode: 'enforce' });
    const { body } = await post(app, '/validate', pod);
    assert.equal(body.response.allowed, false);
    assert.deepEqual(body.response.status, { code: 403, reason: 'Forbidden', message: line });
    assert.deepEqual(body.response.auditAnnotations, { decision: 'denied', mode: 'enforce', problems: line });
  });
  it('warn admits with one AdmissionResponse warning per problem', async () => {
    const { app } = appRig({ mode: 'warn' });
    const { body } = await post(app, '/validate', pod);
    assert.equal(body.response.allowed, true);
    assert.equal(body.response.status, undefined);
    assert.deepEqual(body.response.warnings, [`portcullis: ${line}`]);
    assert.equal(body.response.auditAnnotations.decision, 'warned');
  });
  it('audit admits silently and only records', async () => {
    const { app, logs } = appRig({ mode: 'audit' });
    const { body } = await post(app, '/validate', pod);
    assert.equal(body.response.allowed, true);
    assert.equal(body.response.warnings, undefined);
    assert.deepEqual(body.response.auditAnnotations, { decision: 'audited', mode: 'audit', problems: line });
    const entry = logs()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === 'admission reviewed');
    assert.equal(entry.decision, 'audited');
    assert.equal(entry.uid, pod.request.uid);
  });
  it('dryRun reviews are answered like any other and logged as dry runs', async () => {
    const { app, logs } = appRig();
    const { body } = await post(
      app,
      '/validate',
      review('', 'Pod', workload('', 'Pod', podSpec([UNSIGNED])), { dryRun: true }),
    );
    assert.equal(body.response.allowed, false);
    assert.match(logs(), /"dryRun":true/);
  });
});

describe('failures', () => {
  const pod = review('', 'Pod', workload('', 'Pod', podSpec([SIGNED])));
  const cases = [
    {
      name: 'an evaluator that hangs',
      stage: 'verifying signatures',
      set: (r: ReturnType<typeof appRig>) => {
        r.evaluator!.behaviour = 'hang';
      },
    },
    {
      name: 'a registry that hangs',
      stage: 'resolving the tag',
      set: (r: ReturnType<typeof appRig>) => {
        r.resolver.behaviour = 'hang';
      },
    },
    {
      name: 'pull secrets that hang',
      stage: 'reading pull secrets',
      set: (r: ReturnType<typeof appRig>) => {
        r.pullSecrets.behaviour = 'hang';
      },
    },
  ];
  for (const c of cases) {
    it(`${c.name}: enforce denies before the deadline, saying where it was stuck`, async () => {
      const rig = appRig({ mode: 'enforce', deadlineMs: 150 });
      c.set(rig);
      const started = Date.now();
      const { status, body } = await post(rig.app, '/validate', pod);
      const elapsed = Date.now() - started;
      assert.equal(status, 200);
      // The deadline fires up to a tenth early (loop-delay.ts), so the answer is out before it.
      assert.ok(elapsed >= 130 && elapsed < 1500, `answered after ${elapsed} ms`);
      assert.equal(body.response.allowed, false);
      assert.match(
        body.response.status.message,
        new RegExp(`no verdict within the 0\\.15s deadline: still ${c.stage}`),
      );
    });
    it(`${c.name}: warn admits with the reason as a warning`, async () => {
      const rig = appRig({ mode: 'warn', deadlineMs: 100 });
      c.set(rig);
      const { body } = await post(rig.app, '/validate', pod);
      assert.equal(body.response.allowed, true);
      assert.match(body.response.warnings[0], /could not be verified: no verdict within the 0\.1s deadline/);
    });
  }
  it('reviews waiting together each answer at their own deadline', async () => {
    // Deadlines 200 ms apart, so a loaded machine that fires timers late still fires them in order.
    const rig = appRig({ mode: 'enforce', deadlineMs: 400 });
    rig.resolver.behaviour = 'hang';
    const timed = async () => {
      const started = Date.now();
      const { body } = await post(rig.app, '/validate', pod);
      return { elapsed: Date.now() - started, finished: Date.now(), body };
    };
    const first = timed();
    await new Promise((r) => setTimeout(r, 200));
    const [a, b] = await Promise.all([first, timed()]);
    for (const { elapsed, body } of [a, b]) {
      assert.ok(elapsed >= 355 && elapsed < 3000, `answered after ${elapsed} ms`);
      assert.equal(body.response.allowed, false);
      assert.match(body.response.status.message, /no verdict within the 0\.4s deadline/);
    }
    assert.ok(a.finished < b.finished, 'the earlier review expires first');
  });
  it('a review still has its deadline after others were answered or expired', async () => {
    const rig = appRig({ mode: 'enforce', deadlineMs: 100 });
    const quick = await post(rig.app, '/validate', pod);
    assert.equal(quick.body.response.allowed, true);
    rig.resolver.behaviour = 'hang';
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const uncached = review('', 'Pod', workload('', 'Pod', podSpec([`${SIGNED}.${i}`])));
      const { body } = await post(rig.app, '/validate', uncached);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 85 && elapsed < 1500, `review ${i} answered after ${elapsed} ms`);
      assert.match(body.response.status.message, /no verdict within the 0\.1s deadline/);
    }
  });
  const throwing = [
    [
      'an evaluator that throws',
      (r: ReturnType<typeof appRig>) => {
        r.evaluator!.behaviour = 'throw';
      },
    ],
    [
      'a registry that fails',
      (r: ReturnType<typeof appRig>) => {
        r.resolver.behaviour = 'throw';
      },
    ],
    [
      'pull secrets that cannot be read',
      (r: ReturnType<typeof appRig>) => {
        r.pullSecrets.behaviour = 'throw';
      },
    ],
    [
      'no loaded policy',
      (r: ReturnType<typeof appRig>) => {
        r.evaluator = undefined;
      },
    ],
  ] as const;
  for (const [name, set] of throwing) {
    it(`${name}: enforce denies, never admits`, async () => {
      const rig = appRig({ mode: 'enforce' });
      set(rig);
      const { status, body } = await post(rig.app, '/validate', pod);
      assert.equal(status, 200);
      assert.equal(body.response.allowed, false);
      assert.match(body.response.status.message, /could not be verified: /);
    });
  }
});

describe('bad input', () => {
  const invalid: Array<[string, string, RegExp]> = [
    ['uppercase repository', 'Registry.example/Team/App:1', /invalid image reference: /],
    ['a space', 'nginx:1 .0', /invalid image reference: /],
    ['an overlong reference', `example.com/${'a'.repeat(1100)}:1`, /invalid image reference: /],
    ['a bad digest', 'nginx@sha256:abc', /invalid image reference: /],
  ];
  for (const [what, image, reason] of invalid) {
    it(`an image with ${what} is denied with the parse error`, async () => {
      const { app } = appRig();
      const { body } = await post(app, '/validate', review('', 'Pod', workload('', 'Pod', podSpec([image]))));
      assert.equal(body.response.allowed, false);
      assert.match(body.response.status.message, reason);
    });
  }

  it('a container whose image is not a string is denied as an invalid object', async () => {
    const { app } = appRig();
    const object = workload('', 'Pod', { containers: [{ name: 'x', image: 42 }] });
    const { body } = await post(app, '/validate', review('', 'Pod', object));
    assert.equal(body.response.allowed, false);
    assert.match(
      body.response.status.message,
      /invalid object: spec\.containers\[0\]\.image: expected a string/,
    );
  });

  const malformed: Array<[string, string, unknown, string]> = [
    [
      'containers that are not a list',
      'Pod',
      { spec: { containers: {} } },
      'spec.containers: expected an array',
    ],
    [
      'a container that is not an object',
      'Pod',
      { spec: { containers: ['nginx'] } },
      'spec.containers[0]: expected an object',
    ],
    [
      'a template that is not an object',
      'Deployment',
      { spec: { template: 'x' } },
      'spec.template: expected an object',
    ],
    ['a spec that is not an object', 'CronJob', { spec: 7 }, 'spec: expected an object'],
  ];
  for (const [what, kind, object, message] of malformed) {
    it(`a ${kind} with ${what} is denied as an invalid object`, async () => {
      const { app } = appRig();
      const group = kind === 'Pod' ? '' : kind === 'CronJob' ? 'batch' : 'apps';
      const { body } = await post(app, '/validate', review(group, kind, object));
      assert.equal(body.response.allowed, false);
      assert.equal(body.response.status.message, `invalid object: ${message}`);
    });
  }

  const envelopes: Array<[string, unknown, string]> = [
    [
      'the wrong apiVersion',
      { ...review('', 'Pod', {}), apiVersion: 'admission.k8s.io/v1beta1' },
      'b6f0c0a4-6d1c-4c8e-9d1e-000000000001',
    ],
    [
      'the wrong kind',
      { ...review('', 'Pod', {}), kind: 'TokenReview' },
      'b6f0c0a4-6d1c-4c8e-9d1e-000000000001',
    ],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, ''],
    ['no uid', { ...review('', 'Pod', {}), request: { kind: { kind: 'Pod' }, operation: 'CREATE' } }, ''],
    ['a JSON array', [1, 2], ''],
    [
      'a non-boolean dryRun',
      review('', 'Pod', {}, { dryRun: 'yes' as unknown as boolean }),
      'b6f0c0a4-6d1c-4c8e-9d1e-000000000001',
    ],
  ];
  for (const [what, body, uid] of envelopes) {
    it(`a review with ${what} gets a 400 AdmissionReview that denies`, async () => {
      const { app } = appRig();
      const res = await post(app, '/validate', body);
      assert.equal(res.status, 400);
      assert.equal(res.body.apiVersion, 'admission.k8s.io/v1');
      assert.equal(res.body.kind, 'AdmissionReview');
      assert.equal(res.body.response.uid, uid);
      assert.equal(res.body.response.allowed, false);
      assert.equal(res.body.response.status.code, 400);
    });
  }

  const raw: Array<[string, string, string, number]> = [
    ['malformed JSON', '{"apiVersion": "admission.k8s.io/v1", "kind": ', 'application/json', 400],
    ['an empty body', '', 'application/json', 400],
    ['a prototype-poisoning body', '{"__proto__": {"allowed": true}}', 'application/json', 400],
    ['a non-JSON content type', 'apiVersion: admission.k8s.io/v1', 'application/yaml', 415],
  ];
  for (const [what, payload, type, code] of raw) {
    it(`${what} gets a ${code} AdmissionReview that denies`, async () => {
      const { app } = appRig();
      const res = await app.inject({
        method: 'POST',
        url: '/validate',
        payload,
        headers: { 'content-type': type },
      });
      assert.equal(res.statusCode, code);
      const body = res.json();
      assert.equal(body.kind, 'AdmissionReview');
      assert.equal(body.response.allowed, false);
      assert.equal(body.response.status.code, code);
    });
  }

  it('a body over the limit gets a 413 AdmissionReview that denies', async () => {
    const { app } = appRig({ bodyLimit: 64 * 1024 });
    const spec = podSpec(Array.from({ length: 2000 }, (_, i) => `registry.example/team/app-${i}:1`));
    const res = await app.inject({
      method: 'POST',
      url: '/validate',
      payload: review('', 'Pod', workload('', 'Pod', spec)),
    });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().response.allowed, false);
    assert.match(res.json().response.status.message, /larger than the 65536 byte limit/);
  });

  it('a deeply nested object is answered with an AdmissionReview, not a crash', async () => {
    const { app } = appRig();
    const depth = 200_000;
    const envelope = JSON.stringify(review('', 'Pod', { spec: 'NESTED' }));
    const payload = envelope.replace('"NESTED"', `${'['.repeat(depth)}${']'.repeat(depth)}`);
    const res = await app.inject({
      method: 'POST',
      url: '/validate',
      payload,
      headers: { 'content-type': 'application/json' },
    });
    assert.ok(res.statusCode === 200 || res.statusCode === 400, `status ${res.statusCode}`);
    assert.equal(res.json().response.allowed, false);
  });

  it('a large object within the limit is judged, each distinct image once', async () => {
    const { app, resolver } = appRig();
    const images = Array.from({ length: 500 }, (_, i) => `registry.example/team/app-${i % 50}:1`);
    const { body } = await post(app, '/validate', review('', 'Pod', workload('', 'Pod', podSpec(images))));
    assert.equal(body.response.allowed, true);
    assert.equal(resolver.calls.length, 50);
  });
});

describe('mutation', () => {
  it('pins verified digests on Pods with a JSONPatch, keeping the tag', async () => {
    const { app } = appRig();
    const spec = podSpec([
      SIGNED,
      'registry.example/open/x:1',
      `registry.example/team/b@${digestFor('pinned')}`,
    ]);
    const { body } = await post(app, '/mutate', review('', 'Pod', workload('', 'Pod', spec)));
    assert.equal(body.response.allowed, true);
    assert.equal(body.response.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(body.response.patch, 'base64').toString());
    assert.deepEqual(patch, [
      { op: 'replace', path: '/spec/containers/0/image', value: `${SIGNED}@${digestFor(SIGNED)}` },
    ]);
  });
  it('never rewrites pod templates', async () => {
    const { app } = appRig();
    const object = workload('apps', 'Deployment', podSpec([SIGNED]));
    const { body } = await post(app, '/mutate', review('apps', 'Deployment', object));
    assert.equal(body.response.allowed, true);
    assert.equal(body.response.patch, undefined);
  });
  it('denies in enforce mode like the validating endpoint, with no patch', async () => {
    const { app } = appRig();
    const { body } = await post(
      app,
      '/mutate',
      review('', 'Pod', workload('', 'Pod', podSpec([SIGNED, UNSIGNED]))),
    );
    assert.equal(body.response.allowed, false);
    assert.equal(body.response.patch, undefined);
  });
});

describe('deduplication and coalescing', () => {
  it('an image used by several containers is resolved and verified once', async () => {
    const { app, resolver, evaluator } = appRig();
    const spec = podSpec([SIGNED, SIGNED, SIGNED], { initContainers: [{ name: 'i', image: SIGNED }] });
    await post(app, '/validate', review('', 'Pod', workload('', 'Pod', spec)));
    assert.equal(resolver.calls.length, 1);
    assert.equal(evaluator!.evaluations.length, 1);
  });
  it('concurrent reviews of the same image share one verification', async () => {
    const { app, evaluator } = appRig();
    evaluator!.delayMs = 50;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        post(
          app,
          '/validate',
          review('', 'Pod', workload('', 'Pod', podSpec([SIGNED])), { uid: `uid-${i}` }),
        ),
      ),
    );
    assert.deepEqual(
      results.map((r) => [r.body.response.uid, r.body.response.allowed]),
      Array.from({ length: 8 }, (_, i) => [`uid-${i}`, true]),
    );
    assert.equal(evaluator!.evaluations.length, 1);
  });
  it('reject and insecureAcceptAnything scopes touch no registry', async () => {
    const { app, resolver, evaluator } = appRig();
    const spec = podSpec(['registry.example/open/a:1', 'registry.example/rejected/b:1']);
    const { body } = await post(app, '/validate', review('', 'Pod', workload('', 'Pod', spec)));
    assert.equal(body.response.allowed, false);
    assert.match(
      body.response.status.message,
      /rejected\/b:1" at spec\.containers\[1\]\.image is not trusted: running image/,
    );
    assert.deepEqual(resolver.calls, []);
    assert.deepEqual(evaluator!.evaluations, []);
  });
});

describe('credentials', () => {
  it('asks for the pod service account and pull secrets, and never logs them', async () => {
    const { app, pullSecrets, logs } = appRig();
    const secret = JSON.stringify({
      auths: { 'registry.example': { auth: Buffer.from('bob:hunter2').toString('base64') } },
    });
    pullSecrets.documents = [secret];
    const spec = podSpec([SIGNED, UNSIGNED], {
      serviceAccountName: 'builder',
      imagePullSecrets: [{ name: 'regcred' }],
    });
    await post(app, '/validate', review('', 'Pod', workload('', 'Pod', spec)));
    assert.deepEqual(pullSecrets.requests, [
      { namespace: 'team-a', serviceAccountName: 'builder', imagePullSecrets: ['regcred'] },
    ]);
    assert.doesNotMatch(logs(), /hunter2|Ym9iOmh1bnRlcjI/);
  });
  it('templates use the default service account when none is named', async () => {
    const { app, pullSecrets } = appRig();
    await post(
      app,
      '/validate',
      review('apps', 'Deployment', workload('apps', 'Deployment', podSpec([SIGNED]))),
    );
    assert.deepEqual(pullSecrets.requests, [
      { namespace: 'team-a', serviceAccountName: 'default', imagePullSecrets: [] },
    ]);
  });
});

describe('operations endpoints', () => {
  it('/healthz answers ok', async () => {
    const { app } = appRig();
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
  });
  it('/readyz is 503 until a policy is loaded', async () => {
    const rig = appRig();
    const evaluator = rig.evaluator;
    rig.evaluator = undefined;
    assert.equal((await rig.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
    rig.evaluator = evaluator;
    assert.equal((await rig.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  });
  it('/metrics counts admissions by decision and mode, stages and cache results', async () => {
    const { app } = appRig();
    const pod = review(
      '',
      'Pod',
      workload('', 'Pod', podSpec([SIGNED, UNSIGNED, 'registry.example/open/x:1'])),
    );
    await post(app, '/validate', pod);
    await post(app, '/validate', pod);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    const text = res.body;
    assert.match(text, /portcullis_admissions_total\{decision="denied",mode="enforce"\} 2/);
    assert.match(text, /portcullis_cache_requests_total\{cache="verdict",result="miss"\} 2/);
    assert.match(text, /portcullis_cache_requests_total\{cache="verdict",result="hit"\} 2/);
    assert.match(text, /portcullis_registry_requests_total\{status="200"\} 2/);
    assert.match(text, /portcullis_stage_duration_seconds_count\{stage="verify"\} 2/);
    assert.match(text, /portcullis_stage_duration_seconds_count\{stage="policy"\} 2/);
    assert.match(text, /portcullis_stage_duration_seconds_count\{stage="cache"\} 2/);
  });
});

describe('several policy checks, each in its own mode', () => {
  const refuseAll = (reason: string): Checker => ({ check: async () => ({ kind: 'denied', reason }) });
  const verifiedAs = (digest: Digest): Checker => ({
    check: async () => ({ kind: 'allowed', reason: 'signed', verified: true, digest }),
  });

  it('an enforce denial denies; a warn check still adds its warnings', async () => {
    const { app } = appRig({ extraChecks: [{ mode: 'warn', checker: refuseAll('team rule') }] });
    const { body } = await post(
      app,
      '/validate',
      review('', 'Pod', workload('', 'Pod', podSpec([SIGNED, UNSIGNED]))),
    );
    assert.equal(body.response.allowed, false);
    assert.match(
      body.response.status.message,
      /^image "registry.example\/unsigned\/tool:2" .*no signature exists$/,
    );
    assert.deepEqual(body.response.warnings, [
      `portcullis: image "${SIGNED}" at spec.containers[0].image is not trusted: team rule`,
      `portcullis: image "${UNSIGNED}" at spec.containers[1].image is not trusted: team rule`,
    ]);
    assert.equal(body.response.auditAnnotations.mode, 'enforce');
  });

  it('only warn and audit refusals: admitted, warned, both recorded', async () => {
    const { app } = appRig({
      extraChecks: [
        { mode: 'audit', checker: refuseAll('audited rule') },
        { mode: 'warn', checker: refuseAll('warned rule') },
      ],
    });
    const { body } = await post(app, '/validate', review('', 'Pod', workload('', 'Pod', podSpec([SIGNED]))));
    assert.equal(body.response.allowed, true);
    assert.deepEqual(body.response.warnings, [
      `portcullis: image "${SIGNED}" at spec.containers[0].image is not trusted: warned rule`,
    ]);
    assert.equal(body.response.auditAnnotations.decision, 'warned');
    assert.match(body.response.auditAnnotations.problems, /audited rule.*warned rule/);
  });

  it('pins a digest only when every verifying check agrees on it', async () => {
    const pod = review('', 'Pod', workload('', 'Pod', podSpec([SIGNED])));
    const agreeing = appRig({ extraChecks: [{ mode: 'enforce', checker: verifiedAs(digestFor(SIGNED)) }] });
    const agreed = (await post(agreeing.app, '/mutate', pod)).body;
    assert.deepEqual(JSON.parse(Buffer.from(agreed.response.patch, 'base64').toString()), [
      { op: 'replace', path: '/spec/containers/0/image', value: `${SIGNED}@${digestFor(SIGNED)}` },
    ]);
    const disagreeing = appRig({
      extraChecks: [{ mode: 'enforce', checker: verifiedAs(digestFor('other')) }],
    });
    const split = (await post(disagreeing.app, '/mutate', pod)).body;
    assert.equal(split.response.allowed, true);
    assert.equal(split.response.patch, undefined);
  });
});

describe('reviews whose verdicts are all cached', () => {
  const OPEN = 'registry.example/open/x:1';
  const hits = async (app: Parameters<typeof post>[0]) => {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    return Number(
      /^portcullis_cache_requests_total\{cache="verdict",result="hit"\} (\d+)$/m.exec(text)?.[1] ?? 0,
    );
  };
  const pod = (images: string[], uid = 'uid-1') =>
    review('', 'Pod', workload('', 'Pod', podSpec(images)), { uid });

  it('are answered without waiting on the pull secrets when the source knows them', async () => {
    const { app, pullSecrets } = appRig();
    pullSecrets.known = true;
    await post(app, '/validate', pod([SIGNED, UNSIGNED]));
    const reads = pullSecrets.requests.length;
    const { body } = await post(app, '/validate', pod([SIGNED, UNSIGNED], 'uid-2'));
    assert.equal(body.response.allowed, false);
    assert.match(
      body.response.status.message,
      /unsigned\/tool:2" at spec\.containers\[1\]\.image is not trusted/,
    );
    assert.equal(pullSecrets.requests.length, reads, 'secretsFor was not called again');
  });

  it('give the same answers, and count each cache hit once, either way', async () => {
    const answers: unknown[] = [];
    const counts: number[] = [];
    for (const known of [false, true]) {
      const { app, pullSecrets, resolver } = appRig();
      pullSecrets.known = known;
      await post(app, '/validate', pod([SIGNED]));
      // SIGNED is cached, twice in the pod; UNSIGNED and OPEN are not yet.
      const partly = await post(app, '/mutate', pod([SIGNED, SIGNED, UNSIGNED, OPEN], 'uid-2'));
      const whole = await post(app, '/mutate', pod([SIGNED, OPEN], 'uid-3'));
      answers.push([partly.body, whole.body, resolver.calls.length]);
      counts.push(await hits(app));
    }
    assert.deepEqual(answers[1], answers[0]);
    assert.deepEqual(counts, [counts[0], counts[0]]);
  });
});
