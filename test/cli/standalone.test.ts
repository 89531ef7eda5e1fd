// Differential: portcullis standalone-sign/-verify against skopeo 1.9.3 and gpg, both directions.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.ts';
import { type GnupgHome, gnupgHome } from '../image/signature/gnupg.ts';
import { fixture } from '../image/signature/helpers.ts';

const run = promisify(execFile);

async function skopeo(args: string[], env: Record<string, string>): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await run('skopeo', args, { env });
    return { ok: true, out: r.stdout };
  } catch (err) {
    return { ok: false, out: String((err as { stderr?: string }).stderr ?? err) };
  }
}

const digestOf = (line: string) => /digest (sha256:[0-9a-f]{64})/.exec(line)?.[1];

describe('standalone-sign / standalone-verify vs skopeo', () => {
  let home: GnupgHome;
  let work: string;
  let ed: string;
  let rsa: string;
  let other: string;
  let manifest: string;
  let tampered: string;
  before(async () => {
    home = await gnupgHome();
    work = await mkdtemp(join(tmpdir(), 'portcullis-standalone-'));
    ed = await home.generate('Ed <ed@example.com>', 'ed25519');
    rsa = await home.generate('Rsa <rsa@example.com>', 'rsa2048', 'secret');
    other = await home.generate('Other <other@example.com>', 'ed25519');
    manifest = join(work, 'manifest.json');
    await copyFile(fixture('image.manifest.json'), manifest);
    tampered = join(work, 'tampered.json');
    await writeFile(tampered, `${await readFile(manifest, 'utf8')} `);
    await writeFile(join(work, 'pass'), 'secret\n');
  });
  after(async () => {
    await home.remove();
    await rm(work, { recursive: true, force: true });
  });

  const signers = ['skopeo', 'portcullis'] as const;
  const keys = ['ed25519', 'rsa2048 with passphrase'] as const;

  async function sign(
    by: (typeof signers)[number],
    key: (typeof keys)[number],
    ref: string,
  ): Promise<string> {
    const fpr = key === 'ed25519' ? ed : rsa;
    const out = join(work, `${by}-${key.replaceAll(' ', '_')}-${ref.replaceAll(/[/:]/g, '_')}.sig`);
    const pass = key === 'ed25519' ? [] : ['--passphrase-file', join(work, 'pass')];
    if (by === 'skopeo') {
      const r = await skopeo(['standalone-sign', ...pass, manifest, ref, fpr, '-o', out], home.env);
      assert.ok(r.ok, r.out);
    } else {
      const r = await runCli(['standalone-sign', ...pass, manifest, ref, fpr, '-o', out], home.env);
      assert.equal(r.code, 0, r.stderr);
    }
    return out;
  }

  // Rows: what is verified and whether both tools must accept it.
  const rows = (fpr: () => string) =>
    [
      { name: 'same reference', ref: 'example.com/ns/app:v1', manifest: 'good', fprs: () => fpr(), ok: true },
      {
        name: 'normalized reference',
        ref: 'example.com/ns/app:v1',
        verifyRef: 'example.com/ns/app:v1',
        manifest: 'good',
        fprs: () => fpr(),
        ok: true,
      },
      {
        name: 'other tag',
        ref: 'example.com/ns/app:v1',
        verifyRef: 'example.com/ns/app:v2',
        manifest: 'good',
        fprs: () => fpr(),
        ok: false,
      },
      {
        name: 'other repository',
        ref: 'example.com/ns/app:v1',
        verifyRef: 'example.com/ns/other:v1',
        manifest: 'good',
        fprs: () => fpr(),
        ok: false,
      },
      {
        name: 'tampered manifest',
        ref: 'example.com/ns/app:v1',
        manifest: 'tampered',
        fprs: () => fpr(),
        ok: false,
      },
      {
        name: 'untrusted fingerprint',
        ref: 'example.com/ns/app:v1',
        manifest: 'good',
        fprs: () => other,
        ok: false,
      },
    ] as const;

  for (const by of signers) {
    for (const key of keys) {
      for (const row of rows(() => (key === 'ed25519' ? ed : rsa))) {
        it(`signed by ${by} (${key}), ${row.name}: skopeo and portcullis both ${row.ok ? 'accept' : 'reject'}`, async () => {
          const sig = await sign(by, key, row.ref);
          const m = row.manifest === 'good' ? manifest : tampered;
          const ref = 'verifyRef' in row ? row.verifyRef : row.ref;
          const theirs = await skopeo(['standalone-verify', m, ref, row.fprs(), sig], home.env);
          const ours = await runCli(['standalone-verify', m, ref, row.fprs(), sig], home.env);
          assert.equal(theirs.ok, row.ok, `skopeo: ${theirs.out}`);
          assert.equal(ours.code === 0, row.ok, `portcullis: ${ours.stderr}`);
          if (row.ok) {
            assert.equal(digestOf(ours.stdout), digestOf(theirs.out));
            assert.match(
              ours.stdout,
              new RegExp(
                `^Signature verified using fingerprint ${key === 'ed25519' ? ed : rsa}, digest sha256:`,
              ),
            );
          } else {
            assert.match(ours.stderr, /Error verifying signature: /);
          }
        });
      }
    }
  }

  // skopeo 1.9.3 predates comma-separated fingerprint lists (newer skopeo accepts them, as we do).
  it('a comma-separated fingerprint list accepts a signature by any listed key', async () => {
    const sig = await sign('skopeo', 'ed25519', 'example.com/ns/app:v1');
    const r = await runCli(
      ['standalone-verify', manifest, 'example.com/ns/app:v1', `${other},${ed}`, sig],
      home.env,
    );
    assert.equal(r.code, 0, r.stderr);
  });

  it('--public-key-file with "any" verifies without a GnuPG home', async () => {
    const sig = await sign('skopeo', 'ed25519', 'example.com/ns/app:v1');
    const keyFile = join(work, 'public.gpg');
    await writeFile(keyFile, await home.exportPublic(ed));
    const r = await runCli(
      ['standalone-verify', '--public-key-file', keyFile, manifest, 'example.com/ns/app:v1', 'any', sig],
      {
        GNUPGHOME: join(work, 'nonexistent'),
      },
    );
    assert.equal(r.code, 0, r.stderr);
  });

  it('"any" without --public-key-file is refused', async () => {
    const r = await runCli(
      ['standalone-verify', manifest, 'example.com/ns/app:v1', 'any', manifest],
      home.env,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Cannot use any fingerprint without a public key file/);
  });

  it('--key-file signs from an armored secret key file', async () => {
    const keyFile = join(work, 'secret.asc');
    await run(
      'gpg',
      [
        '--batch',
        '--armor',
        '--pinentry-mode',
        'loopback',
        '--passphrase',
        '',
        '--output',
        keyFile,
        '--export-secret-keys',
        ed,
      ],
      {
        env: home.env,
      },
    );
    const out = join(work, 'from-key-file.sig');
    const r = await runCli(
      ['standalone-sign', '--key-file', keyFile, manifest, 'example.com/ns/app:v1', ed, '-o', out],
      {
        GNUPGHOME: join(work, 'nonexistent'),
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const theirs = await skopeo(['standalone-verify', manifest, 'example.com/ns/app:v1', ed, out], home.env);
    assert.ok(theirs.ok, theirs.out);
  });

  it('a garbage signature file is an error, exit 1', async () => {
    const sig = join(work, 'garbage.sig');
    await writeFile(sig, 'garbage');
    const r = await runCli(['standalone-verify', manifest, 'example.com/ns/app:v1', ed, sig], home.env);
    assert.equal(r.code, 1);
  });

  it('usage errors exit 2', async () => {
    assert.equal((await runCli(['standalone-sign', manifest, 'x'])).code, 2);
    assert.equal((await runCli(['standalone-verify', manifest])).code, 2);
  });
});
