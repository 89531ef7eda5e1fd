// What the in-cluster scenarios share: test images made from the pause image and pushed to the
// node's registry, signed with the real cosign binary or with GPG through skopeo, an HTTP lookaside
// for the GPG signatures, `helm install charts/portcullis` with only image and test values, and a
// steady stream of admissions through the API server.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type GnupgHome, gnupgHome } from '../../test/image/signature/gnupg.ts';
import { type CommandResult, eventually, HarnessError, run } from '../harness.ts';
import { buildScratchImages, pushOciImage, repository } from '../images.ts';
import type { NodeCluster } from '../node.ts';
import { httpGet } from '../processes.ts';
import type { BuiltImage } from './cluster.ts';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const chart = join(repoRoot, 'charts', 'portcullis');
const serveFiles = fileURLToPath(new URL('../tools/serve-files.ts', import.meta.url));
const cosignBinary = join(repoRoot, '.cache', 'tools', 'cosign');
export const LOOKASIDE_PORT = 5002;

/** The command's stdout; fails the test with its stderr when it did not exit 0. */
export function ok(result: CommandResult, what: string): string {
  assert.equal(result.code, 0, `${what}: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

export interface Images {
  readonly work: string;
  readonly gpgFingerprint: string;
  /** base64 of the armored-or-binary public keys, as ClusterImagePolicy keyData wants them. */
  readonly gpgKeyData: string;
  readonly cosignKeyData: string;
  /** registries.d the webhook and skopeo use: lookaside over HTTP, sigstore attachments. */
  registriesD(registries: string[]): string;
  /** A fresh image (its own digest) pushed to `registry/repoTag`, unsigned; returns repo@digest. */
  push(repoTag: string, registry?: string, authfile?: string): Promise<string>;
  /** Pushes a fresh image signed by GPG through skopeo (signature to the lookaside); returns repo:tag. */
  pushGpgSigned(repoTag: string): Promise<string>;
  /**
   * Pushes a fresh image and signs it with the cosign binary; returns repo@digest. The signature
   * names the repository only (cosign's default), or `identity` when given.
   */
  pushCosignSigned(
    repoTag: string,
    registry?: string,
    dockerConfig?: string,
    identity?: string,
  ): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Test images and signers for `cluster`, and the lookaside server (in the node, at
 * http://nodeIp:5002) that serves the GPG signatures skopeo writes.
 */
export async function testImages(cluster: NodeCluster): Promise<Images> {
  if (!existsSync(cosignBinary)) {
    const built = await run('bash', [join(repoRoot, 'scripts', 'build-tools.sh')], {
      timeoutMs: 40 * 60_000,
    });
    if (!existsSync(cosignBinary)) {
      throw new HarnessError(
        'E2E_BUILD_FAILED',
        `building cosign: scripts/build-tools.sh left no ${cosignBinary}; log: .cache/tools/logs/\n${built.stderr}`,
      );
    }
  }
  const work = await mkdtemp(join(tmpdir(), 'portcullis-images-'));
  const scratch = await buildScratchImages(cluster.binaries.kubectl);
  const layout = join(work, 'oci');
  await cp(scratch.layout, layout, { recursive: true });
  const lookaside = join(cluster.dir, 'lookaside');
  await mkdir(lookaside, { recursive: true });
  const server = await cluster.startServer({
    name: 'lookaside',
    binary: process.execPath,
    args: [serveFiles, lookaside, cluster.nodeIp, String(LOOKASIDE_PORT)],
    ready: async () => (await httpGet(`http://${cluster.nodeIp}:${LOOKASIDE_PORT}/`)).status === 200,
  });
  const gpg: GnupgHome = await gnupgHome();
  const gpgFingerprint = await gpg.generate('E2E Signer <signer@e2e.example>', 'ed25519');
  const gpgKeyData = (await gpg.exportPublic(gpgFingerprint)).toString('base64');
  const cosignEnv = { COSIGN_PASSWORD: 'e2e', HOME: work };
  const generated = await run(
    cosignBinary,
    ['generate-key-pair', `--output-key-prefix=${join(work, 'cosign')}`],
    {
      env: cosignEnv,
    },
  );
  ok(generated, 'cosign generate-key-pair');
  const cosignKeyData = (await readFile(join(work, 'cosign.pub'))).toString('base64');

  const registriesD = (registries: string[]): string =>
    `docker:\n${registries
      .map(
        (r) =>
          `  ${r}:\n    lookaside: http://${cluster.nodeIp}:${LOOKASIDE_PORT}\n    lookaside-staging: file://${lookaside}\n    use-sigstore-attachments: true\n`,
      )
      .join('')}`;
  const skopeoRegistriesD = join(work, 'registries.d');
  await mkdir(skopeoRegistriesD);
  await writeFile(join(skopeoRegistriesD, 'e2e.yaml'), registriesD([cluster.registry]));

  let images = 0;
  // One umoci at a time: each rewrites the layout's index.json.
  let layoutLock: Promise<unknown> = Promise.resolve();
  const fresh = (): Promise<string> => {
    images += 1;
    const tag = `image-${images}`;
    const tagged = layoutLock.then(async () => {
      ok(
        await run('umoci', [
          'config',
          `--image=${layout}:pause`,
          `--tag=${tag}`,
          `--config.label=e2e.portcullis.dev/image=${randomUUID()}`,
        ]),
        'umoci config',
      );
      return tag;
    });
    layoutLock = tagged.catch(() => undefined);
    return tagged;
  };
  const push = async (repoTag: string, registry = cluster.registry, authfile?: string): Promise<string> => {
    const tag = await fresh();
    if (authfile === undefined) return pushOciImage({ layout }, tag, `${registry}/${repoTag}`);
    const copied = await run('skopeo', [
      'copy',
      '--insecure-policy',
      '--dest-tls-verify=false',
      `--dest-authfile=${authfile}`,
      `oci:${layout}:${tag}`,
      `docker://${registry}/${repoTag}`,
    ]);
    ok(copied, `skopeo copy to ${registry}/${repoTag}`);
    const digest = ok(
      await run('skopeo', [
        'inspect',
        '--tls-verify=false',
        `--authfile=${authfile}`,
        '--format={{.Digest}}',
        `docker://${registry}/${repoTag}`,
      ]),
      'skopeo inspect',
    ).trim();
    return `${repository(`${registry}/${repoTag}`)}@${digest}`;
  };
  /** skopeo copy of a fresh image to `repoTag`, signing as `signArgs` say; returns registry/repoTag. */
  const signingCopy = async (repoTag: string, signArgs: string[]): Promise<string> => {
    const tag = await fresh();
    const dest = `${cluster.registry}/${repoTag}`;
    const copied = await run(
      'skopeo',
      [
        'copy',
        '--insecure-policy',
        '--dest-tls-verify=false',
        `--registries.d=${skopeoRegistriesD}`,
        ...signArgs,
        `oci:${layout}:${tag}`,
        `docker://${dest}`,
      ],
      { env: gpg.env },
    );
    ok(copied, `skopeo copy ${signArgs.join(' ')} to ${dest}`);
    return dest;
  };
  return {
    work,
    gpgFingerprint,
    gpgKeyData,
    cosignKeyData,
    registriesD,
    push,
    pushGpgSigned: (repoTag) => signingCopy(repoTag, [`--sign-by=${gpgFingerprint}`]),
    async pushCosignSigned(repoTag, registry = cluster.registry, dockerConfig, identity) {
      const pushed = await push(
        repoTag,
        registry,
        dockerConfig === undefined ? undefined : join(dockerConfig, 'config.json'),
      );
      const signed = await run(
        cosignBinary,
        [
          'sign',
          '--yes',
          `--key=${join(work, 'cosign.key')}`,
          '--tlog-upload=false',
          '--allow-http-registry',
          ...(identity === undefined ? [] : [`--sign-container-identity=${identity}`]),
          pushed,
        ],
        {
          env: { ...cosignEnv, ...(dockerConfig === undefined ? {} : { DOCKER_CONFIG: dockerConfig }) },
          timeoutMs: 120_000,
        },
      );
      ok(signed, `cosign sign ${pushed}`);
      return pushed;
    },
    async stop() {
      await server.stop();
      await gpg.remove();
      await rm(work, { recursive: true, force: true });
    },
  };
}

// --- the chart ---------------------------------------------------------------------------------

export interface ReleaseOptions {
  readonly release: string;
  readonly namespace: string;
  /** Namespaces labeled portcullis.dev/e2e=<release> are the only ones this release judges. */
  readonly values?: Record<string, unknown>;
  readonly extraRegistries?: string[];
}

/**
 * The values a test changes: where the images are (the node's registry), that the registries speak
 * plain HTTP, where GPG signatures are, and which namespaces this release judges.
 */
export function testValues(
  cluster: NodeCluster,
  image: BuiltImage,
  images: Images,
  release: string,
  extraRegistries: string[] = [],
): Record<string, unknown> {
  const registries = [cluster.registry, ...extraRegistries];
  const at = image.reference.lastIndexOf('@');
  const kubectl = cluster.images.kubectl ?? '';
  return {
    // The chart writes repository:tag; a tag followed by the digest pins what was built.
    image: { repository: image.reference.slice(0, at), tag: `e2e${image.reference.slice(at)}` },
    cleanup: {
      image: { repository: repository(kubectl), tag: kubectl.slice(repository(kubectl).length + 1) },
    },
    registriesConf: registries.map((r) => `[[registry]]\nlocation = "${r}"\ninsecure = true\n`).join('\n'),
    registriesD: { 'e2e.yaml': images.registriesD(registries) },
    webhook: {
      namespaceSelectorExpressions: [{ key: 'portcullis.dev/e2e', operator: 'In', values: [release] }],
    },
  };
}

export async function helmInstall(
  cluster: NodeCluster,
  release: string,
  namespace: string,
  values: Record<string, unknown>,
  extraArgs: string[] = [],
): Promise<CommandResult> {
  const file = join(cluster.dir, `values-${release}-${randomUUID()}.json`);
  await writeFile(file, JSON.stringify(values));
  return cluster.helm(
    [
      'upgrade',
      '--install',
      release,
      chart,
      '--namespace',
      namespace,
      '--create-namespace',
      '-f',
      file,
      ...extraArgs,
    ],
    { timeoutMs: 600_000 },
  );
}

/** A sigstoreSigned requirement for the cosign key of `images`, any tag or digest of the repository. */
export function cosignSigned(images: Images): object[] {
  return [
    { type: 'sigstoreSigned', keyData: images.cosignKeyData, signedIdentity: { type: 'matchRepository' } },
  ];
}

/** A ClusterImagePolicy for the namespaces `release` judges: `transports.docker` or reject. */
export function clusterImagePolicy(name: string, release: string, docker: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name },
    spec: {
      namespaceSelector: { matchLabels: { 'portcullis.dev/e2e': release } },
      default: [{ type: 'reject' }],
      transports: { docker },
    },
  });
}

/** Creates namespace `name` judged by `release` (its label), and returns it. */
export async function appNamespace(cluster: NodeCluster, name: string, release: string): Promise<string> {
  ok(await cluster.kubectl(['create', 'namespace', name]), `create namespace ${name}`);
  ok(await cluster.kubectl(['label', 'namespace', name, `portcullis.dev/e2e=${release}`]), 'label namespace');
  return name;
}

export function podJson(
  name: string,
  namespace: string,
  image: string,
  spec: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: { containers: [{ name: 'app', image }], ...spec },
  });
}

export async function podPhase(cluster: NodeCluster, namespace: string, name: string): Promise<string> {
  return (await cluster.kubectl(['get', 'pod', name, '-n', namespace, '-o', 'jsonpath={.status.phase}']))
    .stdout;
}

/**
 * Waits until no webhook pod in `namespace` is terminating. `rollout status` and `helm --wait`
 * return once the new replicas are Ready; a replaced replica drains on (up to the chart's
 * drainTimeout), answering on the API server's kept-alive connections, each at most once more.
 */
export async function replacedPodsGone(cluster: NodeCluster, namespace: string): Promise<void> {
  await eventually(
    'every replaced webhook pod gone',
    async () => {
      const pods = ok(
        await cluster.kubectl([
          'get',
          'pods',
          '-n',
          namespace,
          '-l',
          'app.kubernetes.io/name=portcullis',
          '-o',
          'jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\\n"}{end}',
        ]),
        'webhook pods',
      )
        .split('\n')
        .filter((line) => line.trim() !== '');
      return pods.length > 0 && pods.every((line) => line.trim().split(' ').length === 1) ? true : undefined;
    },
    240_000,
    500,
  );
}

export async function waitRunning(cluster: NodeCluster, namespace: string, name: string): Promise<void> {
  await eventually(
    `pod ${namespace}/${name} Running`,
    async () => ((await podPhase(cluster, namespace, name)) === 'Running' ? true : undefined),
    90_000,
    500,
  );
}

// --- admissions under load ---------------------------------------------------------------------

export interface AdmissionCounts {
  sent: number;
  admitted: number;
  denied: number;
  /** The API server could not get an answer from the webhook (failurePolicy Fail refused it). */
  failed: number;
  /** No answer from the API server within 15 s. */
  timedOut: number;
  /** The first few messages of denied and failed requests, with the time they were sent. */
  errors: string[];
}

/**
 * Counts the admissions of `perSecond` dry-run Pod creations with `image` sent while `during` runs
 * (from `leadMs` before it starts to `trailMs` after it ends); the stream stops however `during`
 * ends, so a failing test leaves no timer sending requests.
 */
export async function admissionsDuring(
  cluster: NodeCluster,
  namespace: string,
  image: string,
  perSecond: number,
  during: () => Promise<void>,
  { leadMs = 3_000, trailMs = 5_000 }: { leadMs?: number; trailMs?: number } = {},
): Promise<AdmissionCounts> {
  const stream = admissionStream(cluster, namespace, image, perSecond);
  const run = async () => {
    await sleep(leadMs);
    await during();
    await sleep(trailMs);
  };
  // Stopped on both paths: the requests in flight settle before the test moves on.
  const outcome = await run().then(
    () => undefined,
    (err: unknown) => ({ err }),
  );
  const counts = await stream.stop();
  if (outcome !== undefined) throw outcome.err;
  return counts;
}

/**
 * Sends `perSecond` dry-run Pod creations (so each one is admitted by the webhooks and none is
 * stored) with `image` to the API server until stop() is called; stop() waits for the answers.
 */
function admissionStream(
  cluster: NodeCluster,
  namespace: string,
  image: string,
  perSecond: number,
): { stop(): Promise<AdmissionCounts> } {
  const counts: AdmissionCounts = { sent: 0, admitted: 0, denied: 0, failed: 0, timedOut: 0, errors: [] };
  const kubeconfig = cluster.kubeconfig;
  const pending = new Set<Promise<void>>();
  const started = Date.now();
  let agent: Agent | undefined;
  const tls = loadAdminTls(kubeconfig).then((material) => {
    agent = new Agent({ keepAlive: true, maxSockets: 64, ...material });
  });
  const send = (): void => {
    counts.sent += 1;
    const at = ((Date.now() - started) / 1000).toFixed(1);
    const body = podJson(`load-${randomUUID().slice(0, 8)}`, namespace, image);
    const done = tls
      .then(
        () =>
          new Promise<void>((settle) => {
            const req = request(
              `${cluster.server}/api/v1/namespaces/${namespace}/pods?dryRun=All`,
              { method: 'POST', agent, headers: { 'content-type': 'application/json' }, timeout: 15_000 },
              (res) => {
                let text = '';
                res.on('data', (chunk: Buffer) => {
                  if (text.length < 2000) text += chunk.toString();
                });
                res.on('end', () => {
                  if (res.statusCode === 201) counts.admitted += 1;
                  else {
                    const message = /"message":"((?:[^"\\]|\\.)*)"/.exec(text)?.[1] ?? text.slice(0, 300);
                    if (/denied the request/.test(message)) counts.denied += 1;
                    else counts.failed += 1;
                    if (counts.errors.length < 10)
                      counts.errors.push(`t=${at}s ${res.statusCode}: ${message}`);
                  }
                  settle();
                });
              },
            );
            req.on('timeout', () => req.destroy(new Error('timeout')));
            req.on('error', (error) => {
              if (error.message === 'timeout') counts.timedOut += 1;
              else counts.failed += 1;
              if (counts.errors.length < 10) counts.errors.push(`t=${at}s ${error.message}`);
              settle();
            });
            req.end(body);
          }),
      )
      .finally(() => pending.delete(done));
    pending.add(done);
  };
  const timer = setInterval(send, 1000 / perSecond);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...pending]);
      agent?.destroy();
      return counts;
    },
  };
}

async function loadAdminTls(kubeconfig: string): Promise<{ ca: string; cert: string; key: string }> {
  const config = JSON.parse(await readFile(kubeconfig, 'utf8')) as {
    clusters: { cluster: { 'certificate-authority': string } }[];
    users: { user: { 'client-certificate': string; 'client-key': string } }[];
  };
  const cluster = config.clusters[0]?.cluster;
  const user = config.users[0]?.user;
  if (cluster === undefined || user === undefined) throw new Error(`no cluster or user in ${kubeconfig}`);
  return {
    ca: await readFile(cluster['certificate-authority'], 'utf8'),
    cert: await readFile(user['client-certificate'], 'utf8'),
    key: await readFile(user['client-key'], 'utf8'),
  };
}
