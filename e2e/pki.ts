// The certificates of an e2e cluster: a CA made with openssl, certificates it signs for servers and
// clients, and a service-account key (kubeconfig.ts writes the kubeconfigs that use them).
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HarnessError, run } from './processes.ts';

export interface ServingCert {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

export interface Pki {
  caPath: string;
  caPem: string;
  apiserver: ServingCert;
  admin: ServingCert;
  serviceAccountKeyPath: string;
  issue(
    name: string,
    hosts: string[],
    usage: 'serverAuth' | 'clientAuth',
    org?: string,
  ): Promise<ServingCert>;
}

export async function createPki(dir: string, apiserverHosts: string[] = []): Promise<Pki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKeyPath = join(dir, 'ca.key');
  const caPath = join(dir, 'ca.crt');
  writeKey(caKeyPath);
  await openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    caKeyPath,
    '-subj',
    '/CN=portcullis-e2e-ca',
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    caPath,
  ]);

  const issue = async (
    name: string,
    hosts: string[],
    usage: 'serverAuth' | 'clientAuth',
    org?: string,
  ): Promise<ServingCert> => {
    const safe = name.replace(/[^a-zA-Z0-9.-]/g, '_');
    const keyPath = join(dir, `${safe}.key`);
    const csrPath = join(dir, `${safe}.csr`);
    const certPath = join(dir, `${safe}.crt`);
    const extPath = join(dir, `${safe}.ext`);
    writeKey(keyPath);
    const subject = org === undefined ? `/CN=${name}` : `/O=${org}/CN=${name}`;
    await openssl(['req', '-new', '-key', keyPath, '-subj', subject, '-out', csrPath]);
    const sans = hosts.map((host) => (/^[\d.]+$|:/.test(host) ? `IP:${host}` : `DNS:${host}`));
    writeFileSync(
      extPath,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=${usage}`,
        ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
      ].join('\n'),
    );
    await openssl([
      'x509',
      '-req',
      '-in',
      csrPath,
      '-CA',
      caPath,
      '-CAkey',
      caKeyPath,
      // A random serial per certificate: a shared serial file breaks concurrent issuing.
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-days',
      '2',
      '-extfile',
      extPath,
      '-out',
      certPath,
    ]);
    return {
      certPath,
      keyPath,
      certPem: readFileSync(certPath, 'utf8'),
      keyPem: readFileSync(keyPath, 'utf8'),
    };
  };

  const apiserver = await issue(
    'kube-apiserver',
    [
      '127.0.0.1',
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      '10.96.0.1',
      ...apiserverHosts,
    ],
    'serverAuth',
  );
  // system:masters is the group kube-apiserver authorizes for everything, with or without RBAC objects.
  const admin = await issue('portcullis-e2e-admin', [], 'clientAuth', 'system:masters');
  const serviceAccountKeyPath = join(dir, 'service-account.key');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(serviceAccountKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { caPath, caPem: readFileSync(caPath, 'utf8'), apiserver, admin, serviceAccountKeyPath, issue };
}

function writeKey(path: string): void {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
}

async function openssl(args: string[]): Promise<void> {
  const result = await run('openssl', args, { timeoutMs: 30_000 });
  if (result.code !== 0) {
    throw new HarnessError('E2E_CERT_FAILED', `openssl ${args[0]}: ${result.stderr.trim()}`);
  }
}

/** The PEM certificates of a bundle. */
export const pemBlocks = (pem: string): string[] =>
  pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];

/**
 * Reads a certificate Secret's data every second until stop(), collecting the fingerprints of
 * every CA (ca.crt may hold several) and serving certificate (tls.crt) seen: how many rotations
 * happened meanwhile. A failed read is skipped.
 */
export function watchCertificates(read: () => Promise<Record<string, string>>): {
  stop(): Promise<{ cas: Set<string>; leafs: Set<string> }>;
} {
  const cas = new Set<string>();
  const leafs = new Set<string>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const data = await read().catch(() => ({}) as Record<string, string>);
      for (const pem of pemBlocks(data['ca.crt'] ?? '')) cas.add(new X509Certificate(pem).fingerprint256);
      if (data['tls.crt'] !== undefined) leafs.add(new X509Certificate(data['tls.crt']).fingerprint256);
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return {
    async stop() {
      watching = false;
      await watcher;
      return { cas, leafs };
    },
  };
}
