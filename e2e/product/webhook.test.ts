// Portcullis (`serve --policy FILE`, a child process on the host) behind the real kube-apiserver:
// pods and Deployments with unsigned, GPG-signed and cosign-signed images from a loopback
// registry, warn mode, server-side dry run, failurePolicy with the webhook stopped, and a
// registry that hangs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Cluster, type CommandResult, eventually, startCluster } from '../harness.ts';
import {
  deploymentJson,
  type HangingServer,
  ok,
  type Portcullis,
  podJson,
  type SignedRegistry,
  startHangingServer,
  startPortcullis,
  startSignedRegistry,
} from './fixtures.ts';

const LABEL = 'e2e.portcullis.dev/mode';
const WORKLOAD_RULES = [
  { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods'] },
  { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'] },
];
// serve answers within --timeout; the API server waits timeoutSeconds, which must be longer.
const SERVE_TIMEOUT_S = 3;
const WEBHOOK_TIMEOUT_S = 8;

describe('portcullis serve --policy behind the real API server', () => {
  let cluster: Cluster;
  let registry: SignedRegistry;
  let hanging: HangingServer;
  let enforce: Portcullis;
  let warn: Portcullis;
  let policyPath: string;
  let h: string;
  const started: Portcullis[] = [];

  const apply = (input: string, ...flags: string[]): Promise<CommandResult> =>
    cluster.kubectl(['apply', ...flags, '-f', '-'], { input });

  async function namespace(name: string, mode: string): Promise<void> {
    const created = await cluster.kubectl(['create', 'namespace', name]);
    assert.equal(created.code, 0, created.stderr);
    const labelled = await cluster.kubectl(['label', 'namespace', name, `${LABEL}=${mode}`]);
    assert.equal(labelled.code, 0, labelled.stderr);
  }

  async function serve(args: string[]): Promise<Portcullis> {
    const p = await startPortcullis(cluster, registry.work, [
      `--registries.d=${registry.registriesD}`,
      `--registries-conf=${registry.registriesConf}`,
      `--timeout=${SERVE_TIMEOUT_S}`,
      ...args,
    ]);
    started.push(p);
    return p;
  }

  /** Registers `p` for namespaces labelled `mode`, then waits until the API server calls it. */
  async function register(
    p: Portcullis,
    mode: string,
    failurePolicy: 'Fail' | 'Ignore' = 'Fail',
    kind: 'validating' | 'mutating' = 'validating',
  ): Promise<void> {
    await cluster.registerWebhook({
      name: `${mode}.e2e.portcullis.dev`,
      kind,
      url: `${p.url}/${kind === 'validating' ? 'validate' : 'mutate'}`,
      failurePolicy,
      timeoutSeconds: WEBHOOK_TIMEOUT_S,
      namespaceLabels: { [LABEL]: mode },
      rules: WORKLOAD_RULES,
    });
    // The API server picks up a new configuration within about a second: wait until it bites.
    await eventually(`webhook ${mode} active`, async () => {
      const probe = await apply(podJson('probe', mode, [`${h}/gpg/unsigned:v1`]), '--dry-run=server');
      // Enforcing webhooks deny the probe, warning ones admit it with a warning.
      const bitten = probe.stderr.includes(`admission webhook "${mode}.e2e.portcullis.dev"`);
      return bitten || probe.stderr.includes('Warning: ') ? true : undefined;
    });
  }

  /** The webhook's message out of kubectl's error, which must be one line. */
  function denial(result: CommandResult, webhook: string): string {
    assert.notEqual(result.code, 0, `expected a denial, got: ${result.stdout}`);
    const marker = `admission webhook "${webhook}" denied the request: `;
    const at = result.stderr.indexOf(marker);
    assert.ok(at >= 0, result.stderr);
    return result.stderr.slice(at + marker.length).trimEnd();
  }

  before(async () => {
    [cluster, registry, hanging] = await Promise.all([
      startCluster(),
      startSignedRegistry(),
      startHangingServer(),
    ]);
    h = registry.host;
    await registry.addInsecure(hanging.host);
    await Promise.all([
      registry.push('gpg/app:v1', 'gpg'),
      registry.push('gpg/unsigned:v1', 'none'),
      registry.push('cosign/app:v1', 'cosign'),
      registry.push('cosign/unsigned:v1', 'none'),
    ]);
    const signedBy = { type: 'signedBy', keyType: 'GPGKeys', keyPath: registry.gpgKeyPath };
    policyPath = await registry.writeFile(
      'policy.json',
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`${h}/gpg`]: [signedBy],
            [`${h}/cosign`]: [
              {
                type: 'sigstoreSigned',
                keyPath: registry.cosignKeyPath,
                signedIdentity: { type: 'matchRepository' },
              },
            ],
            [hanging.host]: [signedBy],
          },
        },
      }),
    );
    await Promise.all([namespace('enforce', 'enforce'), namespace('warn', 'warn')]);
    [enforce, warn] = await Promise.all([
      serve([`--policy=${policyPath}`]),
      serve([`--policy=${policyPath}`, '--mode=warn']),
    ]);
    await register(enforce, 'enforce');
    await register(warn, 'warn');
  });

  after(async () => {
    await cluster?.stop();
    await Promise.all(started.map((p) => p.stop()));
    await Promise.all([registry?.stop(), hanging?.stop()]);
  });

  test('an unsigned pod is denied with one line naming the image, its field path and the reason', async () => {
    const result = await apply(podJson('unsigned', 'enforce', [`${h}/gpg/app:v1`, `${h}/gpg/unsigned:v1`]));
    const message = denial(result, 'enforce.e2e.portcullis.dev');
    assert.equal(
      message,
      `image "${h}/gpg/unsigned:v1" at spec.containers[1].image is not trusted: A signature was required, but no signature exists`,
    );
    const get = await cluster.kubectl(['get', 'pod', 'unsigned', '-n', 'enforce']);
    assert.match(get.stderr, /NotFound/);
  });

  test('a Deployment with an unsigned image is denied at its pod template path', async () => {
    const result = await apply(deploymentJson('unsigned', 'enforce', `${h}/cosign/unsigned:v1`));
    const message = denial(result, 'enforce.e2e.portcullis.dev');
    // A sigstore requirement also says where it looked: the cosign tag and the referrers.
    assert.match(
      message,
      new RegExp(
        `^image "${h}/cosign/unsigned:v1" at spec\\.template\\.spec\\.containers\\[0\\]\\.image is not trusted: A signature was required, but no signature exists; probed: tag sha256-[0-9a-f]{64}\\.sig: no signatures; referrers: none$`,
      ),
    );
  });

  test('a GPG-signed image (lookaside signature) is admitted in a pod and a Deployment', async () => {
    const pod = await apply(podJson('gpg', 'enforce', [`${h}/gpg/app:v1`]));
    assert.equal(pod.code, 0, pod.stderr);
    assert.match(pod.stdout, /pod\/gpg created/);
    const deployment = await apply(deploymentJson('gpg', 'enforce', `${h}/gpg/app:v1`));
    assert.equal(deployment.code, 0, deployment.stderr);
    assert.match(deployment.stdout, /deployment.apps\/gpg created/);
  });

  test('a cosign-signed image (sigstore attachment) is admitted', async () => {
    const pod = await apply(podJson('cosign', 'enforce', [`${h}/cosign/app:v1`]));
    assert.equal(pod.code, 0, pod.stderr);
    const deployment = await apply(deploymentJson('cosign', 'enforce', `${h}/cosign/app:v1`));
    assert.equal(deployment.code, 0, deployment.stderr);
  });

  test('an image the policy rejects outright is denied with the policy reason', async () => {
    const result = await apply(podJson('rejected', 'enforce', ['registry.invalid/any/image:1']));
    assert.equal(
      denial(result, 'enforce.e2e.portcullis.dev'),
      'image "registry.invalid/any/image:1" at spec.containers[0].image is not trusted: Running image docker://registry.invalid/any/image:1 is rejected by policy.',
    );
  });

  test('kubectl apply --dry-run=server is checked by the webhook and persists nothing', async () => {
    const denied = await apply(
      podJson('dry-unsigned', 'enforce', [`${h}/gpg/unsigned:v1`]),
      '--dry-run=server',
    );
    assert.match(denial(denied, 'enforce.e2e.portcullis.dev'), /no signature exists$/);
    const admitted = await apply(podJson('dry-signed', 'enforce', [`${h}/gpg/app:v1`]), '--dry-run=server');
    assert.equal(admitted.code, 0, admitted.stderr);
    assert.match(admitted.stdout, /pod\/dry-signed created \(server dry run\)/);
    const get = await cluster.kubectl(['get', 'pod', 'dry-signed', '-n', 'enforce']);
    assert.match(get.stderr, /NotFound/);
  });

  test('warn mode admits an unsigned image and kubectl shows the reason as a warning', async () => {
    const result = await apply(podJson('warned', 'warn', [`${h}/gpg/unsigned:v1`]));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /pod\/warned created/);
    const warnings = result.stderr.split('\n').filter((line) => line.startsWith('Warning: '));
    assert.equal(warnings.length, 1, result.stderr);
    assert.match(
      warnings[0] ?? '',
      new RegExp(`image "${h}/gpg/unsigned:v1" at spec\\.containers\\[0\\]\\.image .*no signature exists`),
    );
    const signed = await apply(podJson('quiet', 'warn', [`${h}/gpg/app:v1`]));
    assert.equal(signed.code, 0, signed.stderr);
    assert.doesNotMatch(signed.stderr, /Warning: /);
  });

  test('echoed input stays bounded: a 300,000-character image, and more warnings than the API server keeps', async () => {
    // `create`, not `apply`: apply's last-applied annotation would make the API server refuse the
    // huge pod before any webhook sees it.
    const create = (input: string) => cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input });
    const huge = `${h}/gpg/${'a'.repeat(300_000)}:v1`;
    const message = denial(await create(podJson('huge', 'enforce', [huge])), 'enforce.e2e.portcullis.dev');
    assert.ok(message.length <= 4096, `a denial of ${message.length} characters`);
    assert.match(message, new RegExp(`^image "${h}/gpg/aaa.*… \\(${huge.length} characters\\)"`));

    const tags = Array.from({ length: 40 }, (_, i) => `${h}/gpg/unsigned:${'t'.repeat(100)}-${i}`);
    const warned = await create(podJson('many', 'warn', tags));
    assert.equal(warned.code, 0, warned.stderr);
    const warnings = warned.stderr
      .split('\n')
      .filter((line) => line.startsWith('Warning: '))
      .map((line) => line.slice('Warning: '.length));
    assert.ok(warnings.length > 1 && warnings.length < 40, warned.stderr);
    for (const w of warnings.slice(0, -1)) assert.match(w, /^portcullis: image ".*could not be verified: /);
    const shown = warnings.length - 1;
    assert.equal(warnings.at(-1), `portcullis: ${40 - shown} more warnings not shown`);
  });

  test('the mutating webhook pins the verified digest of a pod image, and leaves Deployments alone', async () => {
    await namespace('pinned', 'pinned');
    await register(enforce, 'pinned', 'Fail', 'mutating');
    ok(await apply(podJson('pinned', 'pinned', [`${h}/cosign/app:v1`])), 'signed pod');
    const image = ok(
      await cluster.kubectl([
        'get',
        'pod',
        'pinned',
        '-n',
        'pinned',
        '-o',
        'jsonpath={.spec.containers[0].image}',
      ]),
      'get pod',
    );
    const head = await fetch(`http://${h}/v2/cosign/app/manifests/v1`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(image, `${h}/cosign/app:v1@${head.headers.get('docker-content-digest')}`);
    ok(await apply(deploymentJson('unpinned', 'pinned', `${h}/cosign/app:v1`)), 'signed Deployment');
    const template = ok(
      await cluster.kubectl([
        'get',
        'deployment',
        'unpinned',
        '-n',
        'pinned',
        '-o',
        'jsonpath={.spec.template.spec.containers[0].image}',
      ]),
      'get deployment',
    );
    assert.equal(template, `${h}/cosign/app:v1`);
  });

  test('a registry that hangs gets a denial from the webhook before the API server times out', async () => {
    const started = Date.now();
    const result = await apply(podJson('hangs', 'enforce', [`${hanging.host}/app/image:v1`]));
    const elapsed = Date.now() - started;
    const message = denial(result, 'enforce.e2e.portcullis.dev');
    assert.match(
      message,
      new RegExp(
        `^image "${hanging.host}/app/image:v1" at spec\\.containers\\[0\\]\\.image could not be verified: no verdict within the ${SERVE_TIMEOUT_S}s deadline: still resolving the tag$`,
      ),
    );
    assert.ok(
      elapsed < WEBHOOK_TIMEOUT_S * 1000,
      `answered after ${elapsed} ms, the API server waits ${WEBHOOK_TIMEOUT_S} s`,
    );
    assert.ok(elapsed >= SERVE_TIMEOUT_S * 1000 - 500, `answered after only ${elapsed} ms`);
  });

  test('with the webhook stopped, failurePolicy Fail refuses pods and Ignore admits them', async () => {
    const p = await serve([`--policy=${policyPath}`]);
    await Promise.all([namespace('closed', 'closed'), namespace('open', 'open')]);
    await register(p, 'closed', 'Fail');
    await register(p, 'open', 'Ignore');
    await p.stop();
    const closed = await apply(podJson('stopped', 'closed', [`${h}/gpg/app:v1`]));
    assert.notEqual(closed.code, 0);
    assert.match(closed.stderr, /failed calling webhook "closed\.e2e\.portcullis\.dev"/);
    const open = await apply(podJson('stopped', 'open', [`${h}/gpg/unsigned:v1`]));
    assert.equal(open.code, 0, open.stderr);
    assert.match(open.stdout, /pod\/stopped created/);
  });
});
