// The notation-go signer (test/tools/notation-sign, built by scripts/build-tools.sh into
// .cache/tools): signs images in a registry as `notation sign` does, or writes bare envelopes.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Cert, NotationPki } from './pki.ts';

const run = promisify(execFile);
export const notationSign = fileURLToPath(new URL('../../../../.cache/tools/notation-sign', import.meta.url));
/** A skip note for node:test when the signer is not built, else false. */
export const notationSignMissing = existsSync(notationSign)
  ? false
  : `notation-sign not built at ${notationSign} (bash scripts/build-tools.sh)`;

export interface SignWith {
  readonly cert: Cert;
  readonly envelope: 'jws' | 'cose';
  /** Timestamp with the PKI's TSA, served on loopback by the signer. */
  readonly tsa?: NotationPki;
}

function args(w: SignWith): string[] {
  return [
    '--key',
    w.cert.keyPath,
    '--certs',
    w.cert.chainPath,
    '--envelope',
    w.envelope,
    ...(w.tsa ? ['--tsa-key', w.tsa.tsa.keyPath, '--tsa-certs', w.tsa.tsa.chainPath] : []),
  ];
}

/** `notation sign` of `host/repo@digest` over plain HTTP (referrers API or tag-schema fallback). */
export async function notationGoSign(image: string, w: SignWith): Promise<void> {
  await run(notationSign, ['sign', ...args(w), '--plain-http', '--ref', image]);
}

/** Writes the envelope notation-go makes for `descriptor` to `out`, without a registry. */
export async function notationGoEnvelope(descriptor: object, out: string, w: SignWith): Promise<void> {
  await run(notationSign, ['envelope', ...args(w), '--descriptor', JSON.stringify(descriptor), '--out', out]);
}
