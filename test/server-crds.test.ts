// startServer with the policy CRD controller (serve --watch-policies) over the in-memory API
// server: every policy selecting a namespace must admit, each in its own mode.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DockerReference } from '../src/image/index.ts';
import { type KubeIntegration, startKube } from '../src/kube/index.ts';
import type { CheckObserver, PullCredentials, TrustPolicy } from '../src/policy/index.ts';
import {
  type Components,
  type PolicyCrds,
  productionComponents,
  type RunningServer,
  type ServerConfig,
  startServer,
} from '../src/server.ts';
import { writeSelfSignedCertificate } from '../src/webhook/tls.ts';
import { httpsRequest } from './helpers/https.ts';
import { FakeCluster, fixture } from './kube/fake-cluster.ts';
import { FakeEvaluator, FakePullSecrets, FakeResolver } from './policy/fakes.ts';
import { serverConfig } from './webhook/real-server.ts';
import { podSpec, review, workload } from './webhook/rig.ts';

const CONTROLLER_NS = 'portcullis-system';

let dir: string;
let ca: Buffer;
let certPath: string;
let keyPath: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-server-crds-'));
  ({ certPath, keyPath } = await writeSelfSignedCertificate(dir, ['127.0.0.1']));
  ca = await readFile(certPath);
});
after(() => rm(dir, { recursive: true, force: true }));

const config = (policyPath?: string): ServerConfig =>
  serverConfig(dir, { policyPath, tlsCertPath: certPath, tlsKeyPath: keyPath, deadlineMs: 2000 });

function namespace(name: string, labels: Record<string, string> = {}) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

function cip(name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'portcullis.dev/v1alpha1', kind: 'ClusterImagePolicy', metadata: { name }, spec };
}

function ip(ns: string, name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'ImagePolicy',
    metadata: { name, namespace: ns },
    spec,
  };
}

const rejectLibrary = {
  default: [{ type: 'insecureAcceptAnything' }],
  transports: { docker: { 'docker.io/library': [{ type: 'reject' }] } },
};
const acceptAll = { default: [{ type: 'insecureAcceptAnything' }] };
const acceptAllJson = JSON.stringify(acceptAll);

async function admitPod(server: RunningServer, ns: string, images: string[], extra = {}) {
  const object = { ...(workload('', 'Pod', podSpec(images, extra)) as object) };
  const res = await httpsRequest(`${server.url}/validate`, {
    ca,
    body: review('', 'Pod', object, { namespace: ns }),
  });
  assert.equal(res.status, 200);
  return JSON.parse(res.body).response as {
    allowed: boolean;
    status?: { message: string };
    warnings?: string[];
    auditAnnotations?: Record<string, string>;
  };
}

async function until(what: string, predicate: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function readyz(server: RunningServer): Promise<number> {
  return (await httpsRequest(`${server.url}/readyz`, { ca })).status;
}

/** A started controller over `cluster`, compiling with `compile`. */
async function kubeOver(
  cluster: FakeCluster,
  compile: (text: string) => Promise<TrustPolicy> | TrustPolicy,
): Promise<KubeIntegration<TrustPolicy>> {
  return startKube({
    api: cluster,
    compile,
    namespace: CONTROLLER_NS,
    identity: 'pod-0',
    onError: () => {},
  });
}

const real = productionComponents({
  registriesDirPath: undefined,
  registriesConfPath: undefined,
  authFilePath: undefined,
});

function components(crds: Promise<PolicyCrds>, extra: Partial<Components> = {}): Components {
  return {
    loadPolicy: real.loadPolicy,
    resolver: new FakeResolver(),
    pullSecrets: new FakePullSecrets(),
    crds,
    ...extra,
  };
}

describe('startServer with policy CRDs: the real policy engine', () => {
  let cluster: FakeCluster;
  let kube: KubeIntegration<TrustPolicy>;
  let server: RunningServer;

  before(async () => {
    cluster = new FakeCluster();
    cluster.apply('namespaces', namespace('team-a'));
    cluster.apply('namespaces', namespace('team-b'));
    cluster.apply('clusterimagepolicies', cip('no-library', rejectLibrary));
    kube = await kubeOver(cluster, real.compilePolicy);
    server = await startServer(config(), components(Promise.resolve(kube)));
  });
  after(async () => {
    await server?.close();
    await kube?.stop();
  });

  it('is ready once the controller synced', async () => {
    assert.equal(await readyz(server), 200);
  });

  it('denies with the policy named and its reason, admitting what it accepts', async () => {
    const denied = await admitPod(server, 'team-a', ['docker.io/library/nginx:1.27']);
    assert.equal(denied.allowed, false);
    assert.match(denied.status!.message, /nginx:1\.27.*ClusterImagePolicy\/no-library: .*rejected/);
    assert.equal((await admitPod(server, 'team-a', ['quay.io/team/app:1'])).allowed, true);
  });

  it('admits once the policy changes to insecureAcceptAnything', async () => {
    cluster.apply('clusterimagepolicies', cip('no-library', acceptAll));
    await kube.policies.settled();
    assert.equal((await admitPod(server, 'team-a', ['docker.io/library/nginx:1.27'])).allowed, true);
  });

  it('turns the denial of a warn ImagePolicy into a warning in its namespace only', async () => {
    cluster.apply('imagepolicies', ip('team-a', 'warn-library', { ...rejectLibrary, mode: 'warn' }));
    await kube.policies.settled();
    const warned = await admitPod(server, 'team-a', ['docker.io/library/redis:7']);
    assert.equal(warned.allowed, true);
    assert.equal(warned.warnings?.length, 1);
    assert.match(
      warned.warnings![0]!,
      /^portcullis: image "docker.io\/library\/redis:7".*ImagePolicy\/team-a\/warn-library/,
    );
    assert.equal(warned.auditAnnotations?.decision, 'warned');
    const other = await admitPod(server, 'team-b', ['docker.io/library/redis:7']);
    assert.deepEqual([other.allowed, other.warnings], [true, undefined]);
  });

  it('records the denial of an audit policy and admits', async () => {
    cluster.apply('imagepolicies', ip('team-b', 'audit-library', { ...rejectLibrary, mode: 'audit' }));
    await kube.policies.settled();
    const audited = await admitPod(server, 'team-b', ['docker.io/library/redis:7']);
    assert.deepEqual([audited.allowed, audited.warnings], [true, undefined]);
    assert.equal(audited.auditAnnotations?.decision, 'audited');
    assert.match(audited.auditAnnotations!.problems!, /ImagePolicy\/team-b\/audit-library/);
  });

  it('denies in enforce mode even when a warn policy also refuses', async () => {
    cluster.apply('clusterimagepolicies', cip('no-library', rejectLibrary));
    await kube.policies.settled();
    const res = await admitPod(server, 'team-a', ['docker.io/library/redis:7']);
    assert.equal(res.allowed, false);
    assert.match(res.status!.message, /ClusterImagePolicy\/no-library/);
    assert.doesNotMatch(res.status!.message, /warn-library/);
    assert.match(res.warnings?.[0] ?? '', /warn-library/);
  });

  it('denies every image of a namespace whose enforce policy never compiled, saying why', async () => {
    cluster.apply(
      'imagepolicies',
      ip('team-b', 'broken', {
        default: [{ type: 'sigstoreSigned', keySecretRef: { name: 'absent', key: 'cosign.pub' } }],
      }),
    );
    await kube.policies.settled();
    const res = await admitPod(server, 'team-b', ['quay.io/team/app:1']);
    assert.equal(res.allowed, false);
    assert.match(
      res.status!.message,
      /could not be verified: ImagePolicy\/team-b\/broken: no version in force: .*absent/,
    );
    assert.equal((await admitPod(server, 'team-a', ['quay.io/team/app:1'])).allowed, true);
  });
});

describe('startServer with policy CRDs: before and without the first sync', () => {
  it('is not ready and denies in enforce mode, naming the unsynced controller', async () => {
    const server = await startServer(config(), components(new Promise<never>(() => {})));
    try {
      assert.equal(await readyz(server), 503);
      const res = await admitPod(server, 'team-a', ['quay.io/team/app:1']);
      assert.equal(res.allowed, false);
      assert.match(res.status!.message, /policy CRDs: not synced with the API server yet/);
    } finally {
      await server.close();
    }
  });

  it('denies with the failure when the controller could not start', async () => {
    const server = await startServer(
      config(),
      components(Promise.reject(new Error('loading kubeconfig: no such file'))),
    );
    try {
      await until('the failure to be seen', async () => {
        const res = await admitPod(server, 'team-a', ['quay.io/team/app:1']);
        return res.status?.message.includes('policy CRDs: loading kubeconfig: no such file') === true;
      });
      assert.equal(await readyz(server), 503);
    } finally {
      await server.close();
    }
  });

  it('denies with the file policy too: both must admit', async () => {
    const policyPath = join(dir, 'policy.json');
    await writeFile(policyPath, JSON.stringify(rejectLibrary));
    const cluster = new FakeCluster();
    cluster.apply('namespaces', namespace('team-a'));
    cluster.apply('clusterimagepolicies', cip('open', acceptAll));
    const kube = await kubeOver(cluster, real.compilePolicy);
    const server = await startServer(config(policyPath), components(Promise.resolve(kube)));
    try {
      const res = await admitPod(server, 'team-a', ['docker.io/library/nginx:1.27']);
      assert.equal(res.allowed, false);
      assert.doesNotMatch(res.status!.message, /ClusterImagePolicy/);
      assert.equal((await admitPod(server, 'team-a', ['quay.io/team/app:1'])).allowed, true);
    } finally {
      await server.close();
      await kube.stop();
    }
  });

  it('admits a namespace no policy selects when there is no policy file', async () => {
    const cluster = new FakeCluster();
    cluster.apply('namespaces', namespace('team-a'));
    cluster.apply('namespaces', namespace('team-b', { trust: 'on' }));
    cluster.apply(
      'clusterimagepolicies',
      cip('trusted-only', { ...rejectLibrary, namespaceSelector: { matchLabels: { trust: 'on' } } }),
    );
    const kube = await kubeOver(cluster, real.compilePolicy);
    const server = await startServer(config(), components(Promise.resolve(kube)));
    try {
      assert.equal((await admitPod(server, 'team-a', ['docker.io/library/nginx:1.27'])).allowed, true);
      assert.equal((await admitPod(server, 'team-b', ['docker.io/library/nginx:1.27'])).allowed, false);
    } finally {
      await server.close();
      await kube.stop();
    }
  });
});

/** Evaluators that need the image, counting their evaluations, one per compiled policy text. */
class CountingCompiler {
  readonly byText = new Map<string, FakeEvaluator[]>();
  compile = (text: string): TrustPolicy => {
    const e = new FakeEvaluator();
    e.policyHash = createHash('sha256').update(text).digest('hex');
    this.byText.set(text, [...(this.byText.get(text) ?? []), e]);
    return e;
  };
  evaluations(): number {
    return [...this.byText.values()].flat().reduce((n, e) => n + e.evaluations.length, 0);
  }
}

class RecordingResolver extends FakeResolver {
  readonly credentials: PullCredentials[] = [];
  override resolve(ref: DockerReference, c: PullCredentials, signal: AbortSignal, o: CheckObserver) {
    this.credentials.push(c);
    return super.resolve(ref, c, signal, o);
  }
}

describe('startServer with policy CRDs: caching and credentials', () => {
  it('a policy change re-evaluates the namespaces it selects and no other', async () => {
    const compiler = new CountingCompiler();
    const cluster = new FakeCluster();
    cluster.apply('namespaces', namespace('team-a', { trust: 'on' }));
    cluster.apply('namespaces', namespace('team-b'));
    cluster.apply('clusterimagepolicies', cip('everywhere', acceptAll));
    // The fake evaluators judge by image name, so only the policy's identity matters here.
    const trusted = (scope: string) =>
      cip('trusted', {
        ...acceptAll,
        transports: { docker: { [scope]: [{ type: 'reject' }] } },
        namespaceSelector: { matchLabels: { trust: 'on' } },
      });
    cluster.apply('clusterimagepolicies', trusted('quay.io/one'));
    const kube = await kubeOver(cluster, compiler.compile);
    const server = await startServer(config(), components(Promise.resolve(kube)));
    try {
      const image = 'registry.example/team/app:1';
      for (const ns of ['team-a', 'team-b'])
        assert.equal((await admitPod(server, ns, [image])).allowed, true);
      const first = compiler.evaluations();
      assert.equal(first, 3, 'team-a: both policies; team-b: the one that selects it');
      for (const ns of ['team-a', 'team-b']) await admitPod(server, ns, [image]);
      assert.equal(compiler.evaluations(), first, 'verdicts cached');

      cluster.apply('clusterimagepolicies', trusted('quay.io/two'));
      await kube.policies.settled();
      await admitPod(server, 'team-b', [image]);
      assert.equal(compiler.evaluations(), first, 'team-b does not see the changed policy: still cached');
      await admitPod(server, 'team-a', [image]);
      assert.equal(compiler.evaluations(), first + 2, 'team-a re-evaluated under the new generation');
    } finally {
      await server.close();
      await kube.stop();
    }
  });

  it("passes the pod's ServiceAccount pull secrets from the cluster to the registry", async () => {
    const cluster = new FakeCluster();
    cluster.apply('namespaces', namespace('team-a'));
    cluster.apply('secrets', fixture('secret-legacy'));
    cluster.apply('serviceaccounts', fixture('serviceaccount-builder'));
    cluster.apply('clusterimagepolicies', cip('everywhere', acceptAll));
    const compiler = new CountingCompiler();
    const kube = await kubeOver(cluster, compiler.compile);
    const resolver = new RecordingResolver();
    const server = await startServer(config(), components(Promise.resolve(kube), { resolver }));
    try {
      const res = await admitPod(server, 'team-a', ['registry.example/team/app:1'], {
        serviceAccountName: 'builder',
      });
      assert.equal(res.allowed, true);
      assert.equal(resolver.credentials.length, 1);
      assert.equal(resolver.credentials[0]!.dockerConfigJson.length, 1);
    } finally {
      await server.close();
      await kube.stop();
    }
  });
});

describe('productionComponents.compilePolicy: what the controller compiles CRD policies with', () => {
  const sigstore = (keyData: string) =>
    JSON.stringify({
      default: [{ type: 'sigstoreSigned', keyData, signedIdentity: { type: 'matchRepository' } }],
    });
  const gpg = (keyData: string) =>
    JSON.stringify({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyData }] });
  const garbage = Buffer.from('not a key').toString('base64');

  it('loads an inline cosign key, and the hash follows the text', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const compiled = await real.compilePolicy(sigstore(Buffer.from(pem).toString('base64')));
    assert.deepEqual(compiled.sources, []);
    const other = await real.compilePolicy(acceptAllJson);
    assert.notEqual(compiled.policyHash, other.policyHash);
  });

  for (const [what, text] of [
    ['a cosign key that does not parse', sigstore(garbage)],
    ['a GPG keyring that does not parse', gpg(garbage)],
  ] as const) {
    it(`rejects ${what} at compile time`, async () => {
      await assert.rejects(real.compilePolicy(text));
    });
  }
});
