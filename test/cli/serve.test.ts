import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseListen, resolveServeSettings } from '../../src/cli/serve.ts';

describe('serve settings', () => {
  it('defaults: embedded policy, 0.0.0.0:8443, 8 s deadline, enforce, self-signed', () => {
    const s = resolveServeSettings([], {});
    assert.equal(s.config.policyPath, undefined);
    assert.deepEqual([s.config.host, s.config.port], ['0.0.0.0', 8443]);
    assert.equal(s.config.deadlineMs, 8000);
    assert.equal(s.config.mode, 'enforce');
    assert.equal(s.config.unknownKinds, 'allow');
    assert.deepEqual(s.config.platforms, {
      kind: 'platforms',
      platforms: [{ os: 'linux', architecture: 'amd64' }],
    });
    assert.equal(s.tls, undefined);
    assert.equal(s.shortNames, 'docker');
  });

  it('--short-names and PORTCULLIS_SHORT_NAMES choose how pod images without a registry are named', () => {
    assert.equal(
      resolveServeSettings(['--short-names', 'registries-conf'], {}).shortNames,
      'registries-conf',
    );
    assert.equal(
      resolveServeSettings([], { PORTCULLIS_SHORT_NAMES: 'registries-conf' }).shortNames,
      'registries-conf',
    );
  });

  it('--platforms and PORTCULLIS_PLATFORMS choose the instances of multi-arch images', () => {
    assert.deepEqual(resolveServeSettings(['--platforms', 'all'], {}).config.platforms, { kind: 'all' });
    assert.deepEqual(
      resolveServeSettings([], { PORTCULLIS_PLATFORMS: 'linux/amd64,linux/arm64' }).config.platforms,
      {
        kind: 'platforms',
        platforms: [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64' },
        ],
      },
    );
  });

  it('reads every setting from PORTCULLIS_* variables', () => {
    const s = resolveServeSettings([], {
      PORTCULLIS_POLICY: '/etc/p.json',
      PORTCULLIS_REGISTRIES_D: '/etc/r.d',
      PORTCULLIS_REGISTRIES_CONF: '/etc/r.conf',
      PORTCULLIS_AUTHFILE: '/etc/auth.json',
      PORTCULLIS_LISTEN: '127.0.0.1:9443',
      PORTCULLIS_TLS_CERT: '/tls/crt',
      PORTCULLIS_TLS_KEY: '/tls/key',
      PORTCULLIS_TIMEOUT: '2.5',
      PORTCULLIS_MODE: 'warn',
      PORTCULLIS_UNKNOWN_KINDS: 'deny',
      PORTCULLIS_LOG_LEVEL: 'debug',
    });
    assert.equal(s.config.policyPath, '/etc/p.json');
    assert.deepEqual(
      [s.registriesDirPath, s.registriesConfPath, s.authFilePath],
      ['/etc/r.d', '/etc/r.conf', '/etc/auth.json'],
    );
    assert.deepEqual([s.config.host, s.config.port], ['127.0.0.1', 9443]);
    assert.deepEqual(s.tls, { certPath: '/tls/crt', keyPath: '/tls/key' });
    assert.equal(s.config.deadlineMs, 2500);
    assert.equal(s.config.mode, 'warn');
    assert.equal(s.config.unknownKinds, 'deny');
    assert.equal(s.config.logLevel, 'debug');
  });

  it('flags win over variables', () => {
    const s = resolveServeSettings(['--mode', 'audit', '--policy=/a.json', '--registries.d', '/d'], {
      PORTCULLIS_MODE: 'warn',
      PORTCULLIS_POLICY: '/b.json',
    });
    assert.deepEqual([s.config.mode, s.config.policyPath, s.registriesDirPath], ['audit', '/a.json', '/d']);
  });

  it('--watch-policies: the Pod identity from POD_NAMESPACE and POD_NAME, the kubeconfig flag', () => {
    const s = resolveServeSettings(['--watch-policies', '--kubeconfig', '/k'], {
      POD_NAMESPACE: 'portcullis-system',
      POD_NAME: 'portcullis-7d9-abc',
    });
    assert.deepEqual(s.kube, {
      namespace: 'portcullis-system',
      identity: 'portcullis-7d9-abc',
      kubeconfig: '/k',
    });
    assert.equal(s.config.policyPath, undefined);
  });

  it('--tls-secret: self-managed certificates with the default lifetimes, and the Pod identity', () => {
    const s = resolveServeSettings(
      [
        '--tls-secret',
        'portcullis-certs',
        '--tls-hosts',
        'portcullis.portcullis.svc, 10.0.0.1',
        '--webhook-configuration',
        'portcullis',
      ],
      { POD_NAMESPACE: 'portcullis', POD_NAME: 'portcullis-0' },
    );
    const day = 86_400_000;
    assert.deepEqual(s.selfManaged, {
      secretName: 'portcullis-certs',
      webhookConfigurations: ['portcullis'],
      rotation: {
        hosts: ['portcullis.portcullis.svc', '10.0.0.1'],
        caName: 'portcullis-ca-portcullis-certs',
        caValidityMs: 365 * day,
        caRenewBeforeMs: Math.floor((365 * day) / 3),
        certValidityMs: 90 * day,
        certRenewBeforeMs: 30 * day,
        bundleDelayMs: 60_000,
      },
    });
    assert.deepEqual(s.kube, { namespace: 'portcullis', identity: 'portcullis-0', kubeconfig: undefined });
    assert.equal(s.watchPolicies, false);
    assert.equal(s.tls, undefined);
  });

  it('without --watch-policies, no controller', () => {
    assert.equal(resolveServeSettings([], { POD_NAMESPACE: 'portcullis-system' }).kube, undefined);
  });

  it('--stale-if-error and PORTCULLIS_STALE_IF_ERROR set the window, 0 turns it off, default 1h', () => {
    const window = (argv: string[], env: Record<string, string> = {}) =>
      resolveServeSettings(argv, env).config.cache.staleIfErrorMs;
    assert.equal(window([]), 3_600_000);
    assert.equal(window(['--stale-if-error', '15m']), 900_000);
    assert.equal(window([], { PORTCULLIS_STALE_IF_ERROR: '2h30m' }), 9_000_000);
    assert.equal(window(['--stale-if-error=0']), 0);
  });

  it('--drain-timeout and --shutdown-delay take 0 to turn them off; certificate durations do not', () => {
    const server = (argv: string[], env: Record<string, string> = {}) =>
      resolveServeSettings(argv, env).config;
    assert.equal(server([]).drainTimeoutMs, 0);
    assert.equal(server(['--drain-timeout', '95s']).drainTimeoutMs, 95_000);
    assert.equal(server([], { PORTCULLIS_DRAIN_TIMEOUT: '1m30s' }).drainTimeoutMs, 90_000);
    assert.equal(server(['--drain-timeout=0']).drainTimeoutMs, 0);
    assert.equal(server(['--drain-timeout=0s']).drainTimeoutMs, 0);
    assert.equal(server([]).shutdownDelayMs, 2000);
    assert.equal(server(['--shutdown-delay', '0']).shutdownDelayMs, 0);
    assert.equal(server(['--shutdown-delay', '500ms']).shutdownDelayMs, 500);
    const tls = ['--tls-secret', 's', '--tls-hosts', 'h'];
    assert.throws(
      () => resolveServeSettings([...tls, '--tls-cert-validity', '0s'], { POD_NAMESPACE: 'ns' }),
      {
        code: 'USAGE',
        message: /--tls-cert-validity "0s": expected a positive duration/,
      },
    );
  });

  it("--registry-budget and PORTCULLIS_REGISTRY_BUDGET meter registries; docker.io at Docker Hub's anonymous limit by default", () => {
    const budgets = (argv: string[], env: Record<string, string> = {}) =>
      Object.fromEntries(resolveServeSettings(argv, env).budgets);
    const hub = { pulls: 100, periodMs: 6 * 3_600_000, reserve: 20 };
    assert.deepEqual(budgets([]), { 'docker.io': hub });
    assert.deepEqual(
      budgets(['--registry-budget', 'ghcr.io=1000/1h', '--registry-budget=docker.io=200/6h']),
      {
        'docker.io': { pulls: 200, periodMs: 6 * 3_600_000, reserve: 40 },
        'ghcr.io': { pulls: 1000, periodMs: 3_600_000, reserve: 200 },
      },
    );
    assert.deepEqual(budgets([], { PORTCULLIS_REGISTRY_BUDGET: 'docker.io=unlimited,quay.io:443=50/30m' }), {
      'quay.io:443': { pulls: 50, periodMs: 1_800_000, reserve: 10 },
    });
  });

  it('--background-budget-reserve and PORTCULLIS_BACKGROUND_BUDGET_RESERVE: the share of each budget left to admissions, at least 1 pull', () => {
    const reserve = (argv: string[], env: Record<string, string> = {}) =>
      resolveServeSettings(['--registry-budget', 'docker.io=7/1h', ...argv], env).budgets.get('docker.io')
        ?.reserve;
    assert.equal(reserve([]), 2);
    assert.equal(reserve(['--background-budget-reserve', '50']), 4);
    assert.equal(reserve(['--background-budget-reserve=1']), 1);
    assert.equal(reserve([], { PORTCULLIS_BACKGROUND_BUDGET_RESERVE: '0' }), 0);
    assert.equal(reserve(['--background-budget-reserve', '100']), 7);
    for (const text of ['101', '-1', '20%', '2.5'])
      assert.throws(
        () => reserve(['--background-budget-reserve', text]),
        (err: { code?: string }) => err.code === 'USAGE',
        text,
      );
  });

  it('--cache-timeout and PORTCULLIS_CACHE_TIMEOUT bound each shared-cache command, 500 ms by default', () => {
    const timeout = (argv: string[], env: Record<string, string> = {}) =>
      resolveServeSettings(['--cache-url', 'redis://r:6379', '--cache-secret-file', '/s', ...argv], env)
        .sharedCache?.commandTimeoutMs;
    assert.equal(timeout([]), 500);
    assert.equal(timeout(['--cache-timeout', '750ms']), 750);
    assert.equal(timeout([], { PORTCULLIS_CACHE_TIMEOUT: '1s' }), 1000);
  });

  const bad: Array<[string, string[], Record<string, string>]> = [
    ['--watch-policies without POD_NAMESPACE', ['--watch-policies'], {}],
    [
      '--kubeconfig without --watch-policies or --tls-secret',
      ['--kubeconfig', '/k'],
      { POD_NAMESPACE: 'ns' },
    ],
    ['an unknown mode', ['--mode', 'strict'], {}],
    ['an unknown mode from the environment', [], { PORTCULLIS_MODE: 'strict' }],
    ['a zero timeout', ['--timeout', '0'], {}],
    ['a timeout above the webhook maximum', ['--timeout', '31'], {}],
    ['a non-numeric timeout', ['--timeout', '5s'], {}],
    ['a certificate without its key', ['--tls-cert', '/c'], {}],
    ['--tls-secret without POD_NAMESPACE', ['--tls-secret', 's', '--tls-hosts', 'h'], {}],
    ['--tls-secret without --tls-hosts', ['--tls-secret', 's'], { POD_NAMESPACE: 'ns' }],
    [
      '--tls-secret with --tls-cert',
      ['--tls-secret', 's', '--tls-hosts', 'h', '--tls-cert', '/c', '--tls-key', '/k'],
      { POD_NAMESPACE: 'ns' },
    ],
    ['--tls-hosts without --tls-secret', ['--tls-hosts', 'h'], {}],
    [
      'a renewal longer than the validity',
      ['--tls-secret', 's', '--tls-hosts', 'h', '--tls-cert-validity', '1h', '--tls-cert-renew-before', '2h'],
      { POD_NAMESPACE: 'ns' },
    ],
    [
      'a bundle delay longer than the renewal margin',
      ['--tls-secret', 's', '--tls-hosts', 'h', '--tls-cert-validity', '9s', '--tls-bundle-delay', '5s'],
      { POD_NAMESPACE: 'ns' },
    ],
    [
      'a validity that is no duration',
      ['--tls-secret', 's', '--tls-hosts', 'h', '--tls-ca-validity', '1y'],
      { POD_NAMESPACE: 'ns' },
    ],
    ['a bad listen address', ['--listen', 'localhost'], {}],
    ['unknown kinds neither allow nor deny', ['--unknown-kinds', 'warn'], {}],
    ['a positional argument', ['policy.json'], {}],
    ['an unknown flag', ['--port', '1'], {}],
    ['a platform without an architecture', ['--platforms', 'linux'], {}],
    ['an unknown short-name mode', ['--short-names', 'crio'], {}],
    ['a stale-if-error window without a unit', ['--stale-if-error', '60'], {}],
    ['a drain timeout without a unit', ['--drain-timeout', '95'], {}],
    ['a negative shutdown delay', ['--shutdown-delay', '-1s'], {}],
    ['a registry budget without a period', ['--registry-budget', 'docker.io=100'], {}],
    ['a registry budget of no pulls', ['--registry-budget', 'docker.io=0/1h'], {}],
    ['a registry budget without a registry', ['--registry-budget', '=10/1h'], {}],
    ['a cache timeout without a cache', ['--cache-timeout', '1s'], {}],
    [
      'a cache timeout above 5 s',
      ['--cache-url', 'redis://r', '--cache-secret-file', '/s', '--cache-timeout', '10s'],
      {},
    ],
  ];
  for (const [what, argv, env] of bad) {
    it(`rejects ${what} as a usage error`, () => {
      assert.throws(() => resolveServeSettings(argv, env), { code: 'USAGE' });
    });
  }

  const listens: Array<[string, string, number]> = [
    ['0.0.0.0:8443', '0.0.0.0', 8443],
    [':9443', '0.0.0.0', 9443],
    ['[::1]:8443', '::1', 8443],
    ['webhook.local:443', 'webhook.local', 443],
  ];
  for (const [input, host, port] of listens) {
    it(`parses --listen ${input}`, () => assert.deepEqual(parseListen(input), { host, port }));
  }
});

describe('serve settings: --verify-running', () => {
  const pod = { POD_NAMESPACE: 'portcullis', POD_NAME: 'portcullis-0' };

  it('defaults to an hourly fresh scan, 2 verifications in flight, PolicyReports', () => {
    const s = resolveServeSettings(['--watch-policies', '--verify-running'], pod);
    assert.deepEqual(s.background, { intervalMs: 3_600_000, concurrency: 2, reports: ['wgpolicyk8s'] });
    assert.equal(resolveServeSettings(['--watch-policies'], pod).background, undefined);
  });

  it('reads its settings from flags and PORTCULLIS_* variables', () => {
    const s = resolveServeSettings(
      ['--watch-policies', '--verify-interval=1h30m', '--reports=openreports,wgpolicyk8s'],
      {
        ...pod,
        PORTCULLIS_VERIFY_RUNNING: 'true',
        PORTCULLIS_VERIFY_CONCURRENCY: '8',
      },
    );
    assert.deepEqual(s.background, {
      intervalMs: 5_400_000,
      concurrency: 8,
      reports: ['openreports', 'wgpolicyk8s'],
    });
    const none = resolveServeSettings(
      ['--watch-policies', '--verify-running', '--reports=none', '--verify-interval=90s'],
      pod,
    );
    assert.deepEqual(none.background, { intervalMs: 90_000, concurrency: 2, reports: [] });
  });

  for (const [what, argv] of [
    ['--verify-running without --watch-policies', ['--verify-running']],
    ['--verify-interval without --verify-running', ['--watch-policies', '--verify-interval=1h']],
    ['an interval under a second', ['--watch-policies', '--verify-running', '--verify-interval=0.5s']],
    ['an interval that is no duration', ['--watch-policies', '--verify-running', '--verify-interval=1d']],
    ['an unknown report API', ['--watch-policies', '--verify-running', '--reports=kyverno']],
    ['a concurrency of 0', ['--watch-policies', '--verify-running', '--verify-concurrency=0']],
  ] as const) {
    it(`rejects ${what} as a usage error`, () => {
      assert.throws(() => resolveServeSettings(argv, pod), { code: 'USAGE' });
    });
  }
});

describe('portcullis serve', () => {
  it('starts on the embedded policy with a self-signed certificate, and its printed curl example is denied', async () => {
    const bin = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'serve', '--listen', '127.0.0.1:0', '--log-level', 'warn'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    try {
      const deadline = Date.now() + 20_000;
      while (!/^ {2}curl .*$/m.test(stderr)) {
        if (child.exitCode !== null || Date.now() > deadline) assert.fail(`serve did not start:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(stderr, /self-signed certificate written to \/.*\/tls\.crt/);
      assert.match(stderr, /policy: embedded default, mode: enforce/);
      const curl = /^ {2}(curl .*)$/m.exec(stderr)![1]!;
      const { stdout } = await promisify(execFile)('sh', ['-c', curl]);
      const review = JSON.parse(stdout);
      assert.equal(review.response.allowed, false);
      // The image's spelling inside the reason is the docker transport's (upstream writes the familiar form).
      assert.match(
        review.response.status.message,
        /^image "docker\.io\/library\/nginx:1\.27" at spec\.containers\[0\]\.image is not trusted: Running image docker:\/\/(docker\.io\/library\/)?nginx:1\.27 is rejected by policy\.$/,
      );
    } finally {
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0, stderr);
      assert.match(stderr, /SIGTERM: finishing in-flight reviews/);
      // The certificate made for the run goes with it.
      const written = /self-signed certificate written to (\/.*)\/tls\.crt/.exec(stderr)?.[1];
      assert.ok(written !== undefined, stderr);
      assert.equal(existsSync(written), false, `${written} left behind`);
    }
  });
});
