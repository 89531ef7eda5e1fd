// The webhook (fastify inject, production policy engine, loopback registry) on a two-platform OCI
// index: the instances for the configured platforms are judged by their own signatures, index
// signatures count only with acceptIndexSignatures, verdicts are cached per platform selection,
// and /mutate still pins the index digest.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Coalescer, createTtlCache, NO_SHARED_CACHE } from '../../src/cache/index.ts';
import type { Digest, InstanceSelection } from '../../src/image/index.ts';
import {
  ImageChecker,
  NO_PULL_SECRETS,
  parsePlatforms,
  type TrustPolicy,
  type Verdict,
} from '../../src/policy/index.ts';
import { productionComponents } from '../../src/server.ts';
import { buildApp } from '../../src/webhook/app.ts';
import { createLogger } from '../../src/webhook/log.ts';
import { createMetrics } from '../../src/webhook/metrics.ts';
import { DEFAULT_BODY_LIMIT } from '../../src/webhook/review.ts';
import { type MultiArchFixture, multiArchFixture } from '../helpers/multiarch.ts';
import { silentObserver } from '../policy/fakes.ts';
import { podSpec, post, review, workload } from './rig.ts';

type PolicyName = keyof MultiArchFixture['policies'];

describe('webhook: multi-arch images', () => {
  let f: MultiArchFixture;
  let components: ReturnType<typeof productionComponents>;
  const evaluators = new Map<PolicyName, TrustPolicy>();
  // One verdict cache for every app, as serve shares one across policies: keys must keep them apart.
  const verdicts = createTtlCache<Verdict>(1000);

  before(async () => {
    f = await multiArchFixture();
    components = productionComponents(
      {
        registriesDirPath: f.registriesD,
        registriesConfPath: f.env.ctx.registriesConfPath,
        authFilePath: f.env.ctx.authFilePath,
      },
      f.env.transport,
    );
    for (const name of Object.keys(f.policies) as PolicyName[])
      evaluators.set(name, await components.loadPolicy(f.policies[name]));
  });
  after(() => f?.cleanup());

  function app(policy: PolicyName, platforms: InstanceSelection): FastifyInstance {
    const evaluator = evaluators.get(policy);
    const checker = new ImageChecker({
      resolver: components.resolver,
      evaluator: () => evaluator,
      verdicts,
      digests: createTtlCache<{ digest: Digest }>(100),
      resolutions: new Coalescer<Digest>(5000),
      evaluations: new Coalescer<Verdict>(5000),
      platforms,
      allowedTtlMs: 60_000,
      deniedTtlMs: 60_000,
      digestTtlMs: 60_000,
      stale: { windowMs: 0, verdicts: createTtlCache(1), resolutions: createTtlCache(1) },
      shared: NO_SHARED_CACHE,
      observer: silentObserver,
    });
    return buildApp({
      admission: {
        checks: () => [{ mode: 'enforce', checker }],
        pullSecrets: NO_PULL_SECRETS,
        mode: 'enforce',
        deadlineMs: 5000,
        unknownKinds: 'allow',
        metrics: createMetrics(),
        logger: createLogger('silent'),
      },
      ready: () => true,
      bodyLimit: DEFAULT_BODY_LIMIT,
    });
  }

  const admit = async (a: FastifyInstance, image: string, path = '/validate') => {
    const { status, body } = await post(a, path, review('', 'Pod', workload('', 'Pod', podSpec([image]))));
    assert.equal(status, 200);
    return body.response;
  };

  const table: [keyof MultiArchFixture['images'], PolicyName, string, boolean][] = [
    ['gpg-instance', 'gpg', 'linux/amd64', true],
    ['gpg-instance', 'gpg', 'linux/arm64', false],
    ['gpg-instance', 'gpg', 'all', false],
    ['gpg-index', 'gpg', 'linux/amd64', false],
    ['gpg-index', 'gpg-index', 'linux/amd64', true],
    ['gpg-index', 'gpg-index', 'all', true],
    ['sigstore-instance', 'sigstore', 'linux/amd64', true],
    ['sigstore-instance', 'sigstore', 'linux/arm64', false],
    ['sigstore-index', 'sigstore', 'linux/amd64', false],
    ['sigstore-index', 'sigstore-index', 'linux/amd64,linux/arm64', true],
    // A platform the index does not offer is not required; one it offers still is.
    ['gpg-instance', 'gpg', 'linux/amd64,linux/s390x', true],
    ['gpg-instance', 'gpg', 'linux/arm64,linux/s390x', false],
  ];
  for (const [image, policy, platforms, allowed] of table) {
    it(`${image} x ${policy} for ${platforms}: ${allowed ? 'admitted' : 'denied'}`, async () => {
      const response = await admit(app(policy, parsePlatforms(platforms)), f.images[image].image);
      assert.equal(response.allowed, allowed, JSON.stringify(response));
    });
  }

  it('a denial names the platform instance and its index', async () => {
    const pushed = f.images['gpg-instance'];
    const response = await admit(app('gpg', parsePlatforms('all')), pushed.image);
    assert.equal(
      response.status.message,
      `image "${pushed.image}" at spec.containers[0].image is not trusted: linux/arm64 instance ${pushed.instances.arm64} of index ${pushed.digest}: A signature was required, but no signature exists`,
    );
  });

  it('an index with no instance for any configured platform is denied, saying what it offers', async () => {
    const pushed = f.images['gpg-instance'];
    const response = await admit(app('gpg', parsePlatforms('linux/s390x')), pushed.image);
    assert.equal(response.allowed, false);
    assert.match(
      response.status.message,
      new RegExp(
        `index ${pushed.digest} has no instance for linux/s390x \\(it offers linux/amd64, linux/arm64\\)`,
      ),
    );
  });

  it('verdicts for one image are never shared between platform selections', async () => {
    const pushed = f.images['sigstore-instance'];
    const amd64 = app('sigstore', parsePlatforms('linux/amd64'));
    const arm64 = app('sigstore', parsePlatforms('linux/arm64'));
    for (let i = 0; i < 2; i++) {
      assert.equal((await admit(amd64, pushed.image)).allowed, true);
      assert.equal((await admit(arm64, pushed.image)).allowed, false);
    }
  });

  it('/mutate pins the index digest, so each node still pulls its own platform', async () => {
    const pushed = f.images['gpg-instance'];
    const response = await admit(app('gpg', parsePlatforms('linux/amd64')), pushed.image, '/mutate');
    assert.equal(response.allowed, true);
    const [op] = JSON.parse(Buffer.from(response.patch, 'base64').toString());
    assert.deepEqual(op, {
      op: 'replace',
      path: '/spec/containers/0/image',
      value: `${pushed.image}@${pushed.digest}`,
    });
  });
});
