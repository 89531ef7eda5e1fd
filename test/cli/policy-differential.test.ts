// Differential: `portcullis policy eval` against `skopeo copy --policy` (skopeo 1.9.3) on a real
// Distribution registry, with lookaside signatures made by gpg (through skopeo standalone-sign).
// Every row of policies x images must get the same verdict, and for denials skopeo's error must
// contain our reason (upstream's texts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { policyCommand } from '../../src/cli/policy.ts';
import { digestHex, TransportRegistry } from '../../src/image/index.ts';
import { captureIo, runCli } from '../helpers/cli.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { type SyntheticImage, syntheticImage } from '../helpers/synthetic-image.ts';
import { type GnupgHome, gnupgHome } from '../image/signature/gnupg.ts';

const run = promisify(execFile);

// skopeo 1.9.3 predates upstream's quoting of identities (%s, now %q), and gpgme reports a bad
// signature as a Go struct dump: compare without quotes, and GPG failures by their prefix.
function comparable(reason: string): string {
  const unquoted = reason.replaceAll('"', '').replaceAll('\\', '');
  const gpg = unquoted.indexOf('Invalid GPG signature: ');
  return gpg < 0 ? unquoted : unquoted.slice(0, gpg + 'Invalid GPG signature: '.length);
}

interface Fixture {
  registry: TestRegistry;
  env: DockerTestEnv;
  home: GnupgHome;
  work: string;
  trusted: string;
  untrusted: string;
  policies: Map<string, string>;
}

describe('policy eval vs skopeo copy --policy', () => {
  const f = {} as Fixture;
  const lookaside = () => join(f.work, 'lookaside');
  const registriesD = () => join(f.work, 'registries.d');

  async function push(repoTag: string, image: SyntheticImage): Promise<void> {
    const ref = f.env.transport.parseReference(`//${f.registry.host}/${repoTag}`);
    const dest = await ref.newImageDestination({ ...f.env.ctx, tlsVerify: false });
    try {
      await putImage(dest, image);
    } finally {
      await dest.close();
    }
  }

  /**
   * Signs `manifest` for `identity` (with gpg via skopeo, or with our signer) and stores it as
   * `repo`'s lookaside signature of `digestOf`.
   */
  async function sign(
    repo: string,
    digestOf: SyntheticImage,
    manifestOf: SyntheticImage,
    identity: string,
    key: string,
    by: 'skopeo' | 'portcullis' = 'skopeo',
  ) {
    const dir = join(lookaside(), `${repo}@sha256=${digestHex(digestOf.manifestDigest)}`);
    await mkdir(dir, { recursive: true });
    const manifestFile = join(f.work, `m-${digestHex(manifestOf.manifestDigest)}.json`);
    await writeFile(manifestFile, manifestOf.manifest);
    const args = ['standalone-sign', manifestFile, identity, key, '-o', join(dir, 'signature-1')];
    if (by === 'skopeo') await run('skopeo', args, { env: f.home.env });
    else assert.equal((await runCli(args, f.home.env)).code, 0);
  }

  before(async () => {
    f.registry = await startRegistry();
    f.env = await dockerTestEnv();
    f.home = await gnupgHome();
    f.work = await mkdtemp(join(tmpdir(), 'portcullis-diff-'));
    f.trusted = await f.home.generate('Trusted <trusted@example.com>', 'ed25519');
    f.untrusted = await f.home.generate('Untrusted <untrusted@example.com>', 'ed25519');
    const h = f.registry.host;
    const app = syntheticImage({ labels: { image: 'app' } });
    const other = syntheticImage({ labels: { image: 'other' } });
    await push('ns/app:v1', app);
    await push('ns/app:v2', app); // same digest as v1: finds v1's signature, which names v1
    await push('ns/unsigned:v1', syntheticImage({ labels: { image: 'unsigned' } }));
    await push('ns/unknownkey:v1', other);
    await push('ns/tampered:v1', other);
    await push('ns/otherrepo:v1', app);
    await push('ns/ours:v1', app);
    await sign('ns/app', app, app, `${h}/ns/app:v1`, f.trusted);
    await sign('ns/unknownkey', other, other, `${h}/ns/unknownkey:v1`, f.untrusted);
    await sign('ns/tampered', other, app, `${h}/ns/tampered:v1`, f.trusted); // signs another manifest
    await sign('ns/otherrepo', app, app, `${h}/ns/app:v1`, f.trusted); // signed for another repository
    await sign('ns/ours', app, app, `${h}/ns/ours:v1`, f.trusted, 'portcullis'); // our signer, skopeo verifies
    await mkdir(registriesD(), { recursive: true });
    await writeFile(
      join(registriesD(), 'test.yaml'),
      `docker:\n  ${h}:\n    sigstore: file://${lookaside()}\n`,
    );
    const keyring = join(f.work, 'trusted.gpg');
    await writeFile(keyring, await f.home.exportPublic(f.trusted));
    const signedBy = (signedIdentity?: unknown) => ({
      type: 'signedBy',
      keyType: 'GPGKeys',
      keyPath: keyring,
      ...(signedIdentity === undefined ? {} : { signedIdentity }),
    });
    const table: Record<string, unknown> = {
      'signedBy, default identity': {
        default: [{ type: 'reject' }],
        transports: { docker: { [h]: [signedBy()] } },
      },
      'signedBy, matchRepository': {
        default: [{ type: 'reject' }],
        transports: { docker: { [h]: [signedBy({ type: 'matchRepository' })] } },
      },
      'signedBy, matchExact': {
        default: [{ type: 'reject' }],
        transports: { docker: { [h]: [signedBy({ type: 'matchExact' })] } },
      },
      'signedBy, exactRepository ns/app': {
        default: [{ type: 'reject' }],
        transports: {
          docker: { [h]: [signedBy({ type: 'exactRepository', dockerRepository: `${h}/ns/app` })] },
        },
      },
      'signedBy, exactReference ns/app:v1': {
        default: [{ type: 'reject' }],
        transports: {
          docker: { [h]: [signedBy({ type: 'exactReference', dockerReference: `${h}/ns/app:v1` })] },
        },
      },
      'scopes: ns/app signed, rest open': {
        default: [{ type: 'insecureAcceptAnything' }],
        transports: { docker: { [`${h}/ns/app`]: [signedBy()] } },
      },
      'scopes: repository-level v1 tag open': {
        default: [{ type: 'reject' }],
        transports: {
          docker: { [`${h}/ns/app:v1`]: [{ type: 'insecureAcceptAnything' }], [`${h}/ns`]: [signedBy()] },
        },
      },
      insecureAcceptAnything: { default: [{ type: 'insecureAcceptAnything' }] },
      reject: { default: [{ type: 'reject' }] },
      'two requirements, one rejects': { default: [signedBy(), { type: 'reject' }] },
      'transport-wide scope': {
        default: [{ type: 'reject' }],
        transports: { docker: { '': [signedBy({ type: 'matchRepository' })] } },
      },
    };
    f.policies = new Map();
    for (const [name, policy] of Object.entries(table)) {
      const path = join(f.work, `${name.replaceAll(/[^a-z0-9]+/gi, '-')}.json`);
      await writeFile(path, JSON.stringify(policy));
      f.policies.set(name, path);
    }
  });

  after(async () => {
    await f.registry?.stop();
    await f.env?.cleanup();
    await f.home?.remove();
    if (f.work) await rm(f.work, { recursive: true, force: true });
  });

  const verdicts = new Map<string, boolean>();
  const images = [
    'ns/app:v1',
    'ns/app:v2',
    'ns/unsigned:v1',
    'ns/unknownkey:v1',
    'ns/tampered:v1',
    'ns/otherrepo:v1',
    'ns/ours:v1',
  ];
  const policyNames = [
    'signedBy, default identity',
    'signedBy, matchRepository',
    'signedBy, matchExact',
    'signedBy, exactRepository ns/app',
    'signedBy, exactReference ns/app:v1',
    'scopes: ns/app signed, rest open',
    'scopes: repository-level v1 tag open',
    'insecureAcceptAnything',
    'reject',
    'two requirements, one rejects',
    'transport-wide scope',
  ];

  for (const policyName of policyNames) {
    for (const image of images) {
      it(`${policyName} x ${image}: same verdict as skopeo`, async () => {
        const policy = f.policies.get(policyName)!;
        const name = `docker://${f.registry.host}/${image}`;
        const out = join(f.work, `out-${Math.random().toString(36).slice(2)}`);
        const theirs = await run(
          'skopeo',
          [
            '--policy',
            policy,
            '--registries.d',
            registriesD(),
            'copy',
            '--src-tls-verify=false',
            name,
            `dir:${out}`,
          ],
          {
            env: {
              ...f.home.env,
              HOME: f.env.dir,
              CONTAINERS_REGISTRIES_CONF: f.env.ctx.registriesConfPath!,
            },
          },
        ).then(
          () => ({ allowed: true, stderr: '' }),
          (err: { stderr: string }) => ({ allowed: false, stderr: err.stderr }),
        );
        await rm(out, { recursive: true, force: true });
        const { io, result } = captureIo();
        const code = await policyCommand({ transports: new TransportRegistry([f.env.transport]) }).run(
          [
            'eval',
            '--json',
            '--policy',
            policy,
            '--registries.d',
            registriesD(),
            '--registries-conf',
            f.env.ctx.registriesConfPath!,
            '--tls-verify=false',
            name,
          ],
          io,
        );
        const ours = result(code);
        assert.ok(code === 0 || code === 1, ours.stderr);
        const explanation = JSON.parse(ours.stdout);
        verdicts.set(`${policyName} x ${image}`, theirs.allowed);
        assert.equal(
          code === 0,
          theirs.allowed,
          `portcullis: ${explanation.reason ?? 'allowed'}\nskopeo: ${theirs.stderr}`,
        );
        if (!theirs.allowed) {
          assert.ok(
            comparable(theirs.stderr).includes(comparable(explanation.reason)),
            `skopeo: ${theirs.stderr}\nportcullis: ${explanation.reason}`,
          );
        }
      });
    }
  }

  it('the table exercises both outcomes, including our signatures accepted by skopeo', () => {
    assert.equal(verdicts.size, policyNames.length * images.length);
    assert.ok([...verdicts.values()].filter((v) => v).length >= 15);
    assert.ok([...verdicts.values()].filter((v) => !v).length >= 15);
    assert.equal(verdicts.get('signedBy, default identity x ns/ours:v1'), true);
    assert.equal(verdicts.get('signedBy, default identity x ns/app:v1'), true);
  });
});
