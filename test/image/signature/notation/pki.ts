// The test PKI for Notation: an openssl CA hierarchy with code-signing leaves of the key types
// the specification allows, leaves that break one rule each, and a timestamping authority.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
let serial = 5000;

export type KeySpec = 'ec-256' | 'ec-384' | 'ec-521' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';

export interface Cert {
  readonly name: string;
  /** PEM file of the certificate alone. */
  readonly path: string;
  /** PEM file of the private key (PKCS#8). */
  readonly keyPath: string;
  readonly pem: string;
  readonly keyPem: string;
  /** PEM file of the chain, this certificate first, the root last. */
  readonly chainPath: string;
}

export const CA = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
export const CODE_SIGNING = [
  'basicConstraints=CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=codeSigning',
];
export const TIME_STAMPING = [
  'basicConstraints=CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=critical,timeStamping',
];
export const SUBJECT = '/C=US/ST=WA/L=Seattle/O=Portcullis Test/CN=notation signer';
export const IDENTITY = 'x509.subject: C=US, ST=WA, O=Portcullis Test';

/** A policy.json notationSigned requirement trusting the CA file `caPath` and IDENTITY. */
export function notationRequirement(caPath: string, level = 'strict'): object {
  return {
    type: 'notationSigned',
    trustStore: { caPath },
    trustedIdentities: [IDENTITY],
    signatureVerification: { level },
  };
}

async function newKey(path: string, spec: KeySpec): Promise<void> {
  const [kind, size] = spec.split('-') as [string, string];
  const args =
    kind === 'ec'
      ? ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:P-${size}`]
      : ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${size}`];
  await run('openssl', ['genpkey', ...args, '-out', path]);
}

/**
 * Issues a certificate with `extensions` (openssl v3 config lines); self-signed without `issuer`.
 * `days` may be negative-free only; `startsAgo`/`days` shape the validity window.
 */
export async function issue(
  dir: string,
  name: string,
  extensions: readonly string[],
  options: { issuer?: Cert; subject?: string; key?: KeySpec; days?: number; md?: string } = {},
): Promise<Cert> {
  const keyPath = join(dir, `${name}.key`);
  const path = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.cnf`);
  await writeFile(ext, `[v3]\n${extensions.join('\n')}\n`);
  await newKey(keyPath, options.key ?? 'ec-384');
  const subject = options.subject ?? `/C=US/ST=WA/O=Portcullis Test/CN=${name}`;
  const common = [
    '-days',
    String(options.days ?? 30),
    '-set_serial',
    String(serial++),
    `-${options.md ?? 'sha384'}`,
  ];
  if (options.issuer === undefined) {
    await run('openssl', [
      'req',
      '-new',
      '-x509',
      '-key',
      keyPath,
      '-subj',
      subject,
      ...common,
      '-config',
      ext,
      '-extensions',
      'v3',
      '-out',
      path,
    ]);
  } else {
    const csr = join(dir, `${name}.csr`);
    await run('openssl', ['req', '-new', '-key', keyPath, '-subj', subject, '-config', ext, '-out', csr]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      options.issuer.path,
      '-CAkey',
      options.issuer.keyPath,
      ...common,
      '-extfile',
      ext,
      '-extensions',
      'v3',
      '-out',
      path,
    ]);
  }
  const pem = await readFile(path, 'utf8');
  const chainPath = join(dir, `${name}.chain.pem`);
  const issuerChain = options.issuer === undefined ? '' : await readFile(options.issuer.chainPath, 'utf8');
  await writeFile(chainPath, pem + issuerChain);
  return { name, path, keyPath, pem, keyPem: await readFile(keyPath, 'utf8'), chainPath };
}

export interface NotationPki {
  readonly root: Cert;
  readonly intermediate: Cert;
  /** ECDSA P-384 code-signing leaf under the intermediate, subject SUBJECT. */
  readonly leaf: Cert;
  readonly rsaLeaf: Cert;
  /** Valid for one day from now: expired for a clock two days ahead. */
  readonly shortLeaf: Cert;
  /** Subject O=Other Org: matches no IDENTITY. */
  readonly otherSubject: Cert;
  /** Names an OCSP responder and a CRL distribution point. */
  readonly revocable: Cert;
  /** A root and leaf nobody trusts. */
  readonly strangerRoot: Cert;
  readonly stranger: Cert;
  readonly tsaRoot: Cert;
  readonly tsa: Cert;
}

export async function makePki(dir: string): Promise<NotationPki> {
  const root = await issue(dir, 'root', CA, { key: 'rsa-3072', days: 3650 });
  const intermediate = await issue(dir, 'intermediate', CA, { issuer: root, days: 3650 });
  const leaf = await issue(dir, 'leaf', CODE_SIGNING, { issuer: intermediate, subject: SUBJECT });
  const rsaLeaf = await issue(dir, 'rsa-leaf', CODE_SIGNING, {
    issuer: intermediate,
    subject: SUBJECT,
    key: 'rsa-3072',
  });
  const shortLeaf = await issue(dir, 'short-leaf', CODE_SIGNING, {
    issuer: intermediate,
    subject: SUBJECT,
    days: 1,
  });
  const otherSubject = await issue(dir, 'other-subject', CODE_SIGNING, {
    issuer: intermediate,
    subject: '/C=US/ST=WA/O=Other Org/CN=someone else',
  });
  const revocable = await issue(
    dir,
    'revocable',
    [
      ...CODE_SIGNING,
      'authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/ocsp',
      'crlDistributionPoints=URI:http://127.0.0.1:9/crl',
    ],
    { issuer: intermediate, subject: SUBJECT },
  );
  const strangerRoot = await issue(dir, 'stranger-root', CA, { days: 3650 });
  const stranger = await issue(dir, 'stranger', CODE_SIGNING, { issuer: strangerRoot, subject: SUBJECT });
  const tsaRoot = await issue(dir, 'tsa-root', CA, { key: 'rsa-3072', days: 3650 });
  const tsa = await issue(dir, 'tsa', TIME_STAMPING, { issuer: tsaRoot, key: 'rsa-3072', days: 3650 });
  return {
    root,
    intermediate,
    leaf,
    rsaLeaf,
    shortLeaf,
    otherSubject,
    revocable,
    strangerRoot,
    stranger,
    tsaRoot,
    tsa,
  };
}
