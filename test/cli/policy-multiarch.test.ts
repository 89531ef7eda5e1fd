// `policy eval` on a two-platform OCI index: the instance for --override-arch is judged by its own
// signatures (as containers/image does), index signatures only with acceptIndexSignatures; the
// GPG rows are checked against skopeo 1.9.3 (`skopeo --override-arch X copy --policy P`).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { policyCommand } from '../../src/cli/policy.ts';
import { TransportRegistry } from '../../src/image/index.ts';
import { sigstoreVerifier } from '../../src/image/signature/index.ts';
import { captureIo } from '../helpers/cli.ts';
import { type Arch, type MultiArchFixture, multiArchFixture } from '../helpers/multiarch.ts';

const run = promisify(execFile);

type PolicyName = keyof MultiArchFixture['policies'];
type ImageName = keyof MultiArchFixture['images'];

// [image, policy, arch, allowed]: amd64 is the signed instance in the *-instance repositories.
const table: [ImageName, PolicyName, Arch, boolean][] = [
  ['gpg-instance', 'gpg', 'amd64', true],
  ['gpg-instance', 'gpg', 'arm64', false],
  ['gpg-index', 'gpg', 'amd64', false],
  ['gpg-index', 'gpg', 'arm64', false],
  ['gpg-index', 'gpg-index', 'amd64', true],
  ['gpg-index', 'gpg-index', 'arm64', true],
  ['gpg-instance', 'gpg-index', 'amd64', true],
  ['gpg-instance', 'gpg-index', 'arm64', false],
  ['sigstore-instance', 'sigstore', 'amd64', true],
  ['sigstore-instance', 'sigstore', 'arm64', false],
  ['sigstore-index', 'sigstore', 'amd64', false],
  ['sigstore-index', 'sigstore', 'arm64', false],
  ['sigstore-index', 'sigstore-index', 'amd64', true],
  ['sigstore-index', 'sigstore-index', 'arm64', true],
  ['sigstore-instance', 'sigstore-index', 'arm64', false],
];

describe('policy eval on a multi-arch index', () => {
  let f: MultiArchFixture;
  before(async () => {
    f = await multiArchFixture();
  });
  after(() => f?.cleanup());

  async function ours(image: ImageName, policy: PolicyName, arch: string, extra: string[] = []) {
    const { io, result } = captureIo();
    const code = await policyCommand({
      transports: new TransportRegistry([f.env.transport]),
      sigstore: sigstoreVerifier(),
    }).run(
      [
        'eval',
        '--json',
        '--policy',
        f.policies[policy],
        '--registries.d',
        f.registriesD,
        '--registries-conf',
        f.env.ctx.registriesConfPath!,
        '--tls-verify=false',
        '--override-os',
        'linux',
        '--override-arch',
        arch,
        ...extra,
        `docker://${f.images[image].image}`,
      ],
      io,
    );
    return result(code);
  }

  for (const [image, policy, arch, allowed] of table) {
    it(`${image} x ${policy} for ${arch}: ${allowed ? 'allowed' : 'denied'}`, async () => {
      const r = await ours(image, policy, arch);
      assert.equal(r.code, allowed ? 0 : 1, r.stdout + r.stderr);
      const e = JSON.parse(r.stdout);
      const pushed = f.images[image];
      // The instance evaluated is the one for the platform, never the index itself.
      assert.deepEqual(e.instance, {
        platform: `linux/${arch}`,
        digest: pushed.instances[arch],
        list: pushed.digest,
      });
      if (!allowed) assert.equal(e.code, 'NO_SIGNATURE');
    });
  }

  it('an accepted index signature is reported as made on the list', async () => {
    const r = await ours('gpg-index', 'gpg-index', 'arm64');
    const e = JSON.parse(r.stdout);
    const accepted = e.requirements[0].signatures.find((s: { accepted: boolean }) => s.accepted);
    assert.equal(accepted.list, f.images['gpg-index'].digest);
    assert.equal(accepted.dockerManifestDigest, f.images['gpg-index'].digest);
  });

  it('the text explanation names the instance and its index', async () => {
    const { io, result } = captureIo();
    const code = await policyCommand({ transports: new TransportRegistry([f.env.transport]) }).run(
      [
        'eval',
        '--policy',
        f.policies.gpg,
        '--registries.d',
        f.registriesD,
        '--registries-conf',
        f.env.ctx.registriesConfPath!,
        '--tls-verify=false',
        '--override-arch',
        'arm64',
        `docker://${f.images['gpg-instance'].image}`,
      ],
      io,
    );
    const r = result(code);
    const pushed = f.images['gpg-instance'];
    assert.match(
      r.stdout,
      new RegExp(`evaluated: linux/arm64 instance ${pushed.instances.arm64} of index ${pushed.digest}`),
    );
  });

  it('a platform the index does not offer: exit 2, naming what it offers', async () => {
    const r = await ours('gpg-instance', 'gpg', 's390x');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no image found for linux\/s390x; it offers linux\/amd64, linux\/arm64/);
  });

  // skopeo has no acceptIndexSignatures: only the upstream policy is compared.
  for (const [image, arch] of [
    ['gpg-instance', 'amd64'],
    ['gpg-instance', 'arm64'],
    ['gpg-index', 'amd64'],
    ['gpg-index', 'arm64'],
  ] as [ImageName, Arch][]) {
    it(`differential: ${image} for ${arch}, same verdict as skopeo copy --override-arch`, async () => {
      const out = join(f.work, `out-${image}-${arch}`);
      const theirs = await run(
        'skopeo',
        [
          '--policy',
          f.policies.gpg,
          '--registries.d',
          f.registriesD,
          '--override-os',
          'linux',
          '--override-arch',
          arch,
          'copy',
          '--src-tls-verify=false',
          `docker://${f.images[image].image}`,
          `dir:${out}`,
        ],
        {
          env: { ...f.gpg.env, HOME: f.env.dir, CONTAINERS_REGISTRIES_CONF: f.env.ctx.registriesConfPath! },
        },
      ).then(
        () => ({ allowed: true, stderr: '' }),
        (err: { stderr: string }) => ({ allowed: false, stderr: err.stderr }),
      );
      await rm(out, { recursive: true, force: true });
      const r = await ours(image, 'gpg', arch);
      assert.equal(r.code === 0, theirs.allowed, `portcullis: ${r.stdout}\nskopeo: ${theirs.stderr}`);
      if (!theirs.allowed) {
        assert.match(theirs.stderr, /A signature was required, but no signature exists/);
        assert.equal(JSON.parse(r.stdout).reason, 'A signature was required, but no signature exists');
      }
    });
  }
});
