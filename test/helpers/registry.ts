// Starts a real Distribution registry (Debian's `docker-registry`) on a free loopback port.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';

export interface TestRegistry {
  /** host:port, e.g. 127.0.0.1:41234 */
  readonly host: string;
  /** http://host:port */
  readonly url: string;
  readonly root: string;
  readonly log: () => string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** htpasswd users (name -> password). */
  readonly users?: Readonly<Record<string, string>>;
  /** Bearer token auth: the registry verifies JWTs signed by this certificate bundle. */
  readonly token?: {
    readonly realm: string;
    readonly service: string;
    readonly issuer: string;
    readonly rootCertBundle: string;
  };
  /** Serve HTTPS with this PEM certificate and key (paths); clientCAs requires client certificates. */
  readonly tls?: {
    readonly certificate: string;
    readonly key: string;
    readonly clientCAs?: readonly string[];
  };
  /** Extra YAML appended to the config (top-level keys). */
  readonly extraConfig?: string;
  /** Write an access log line per request to the output `log()` returns (counting requests). */
  readonly accessLog?: boolean;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('freePort: no address');
  return address.port;
}

export function registryBinary(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v docker-registry || command -v registry'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    throw new Error(
      "test registry: docker-registry is not installed; run the README test command as root (it installs Debian's docker-registry) or `apt-get install docker-registry`",
    );
  }
}

function htpasswdLine(user: string, password: string): string {
  // The registry accepts bcrypt hashes only.
  return `${user}:${bcrypt.hashSync(password, 4)}`;
}

function tlsConfig(tls: RegistryOptions['tls']): string {
  if (tls === undefined) return '';
  const clientCAs = tls.clientCAs?.length
    ? `    clientcas:\n${tls.clientCAs.map((c) => `      - ${c}\n`).join('')}`
    : '';
  return `  tls:\n    certificate: ${tls.certificate}\n    key: ${tls.key}\n${clientCAs}`;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const binary = registryBinary();
  const root = await mkdtemp(join(tmpdir(), 'portcullis-registry-'));
  const port = await freePort();
  const debugPort = await freePort();
  let auth = '';
  if (options.users) {
    const lines = Object.entries(options.users).map(([u, p]) => htpasswdLine(u, p));
    await writeFile(join(root, 'htpasswd'), `${lines.join('\n')}\n`);
    auth = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${join(root, 'htpasswd')}\n`;
  } else if (options.token) {
    const t = options.token;
    auth = `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n    issuer: ${t.issuer}\n    rootcertbundle: ${t.rootCertBundle}\n`;
  }
  const config = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: ${options.accessLog !== true}
storage:
  filesystem:
    rootdirectory: ${join(root, 'data')}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
${tlsConfig(options.tls)}  debug:
    addr: 127.0.0.1:${debugPort}
${auth}${options.extraConfig ?? ''}`;
  const configPath = join(root, 'config.yml');
  await writeFile(configPath, config);
  let output = '';
  const child: ChildProcess = spawn(binary, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`test registry: exited with ${child.exitCode}:\n${output}`);
    try {
      if (options.tls) {
        // fetch cannot skip verification; a TCP connect shows the listener is up
        await new Promise<void>((resolve, reject) => {
          const s = connect(port, '127.0.0.1', () => {
            s.destroy();
            resolve();
          });
          s.on('error', reject);
        });
        break;
      }
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`test registry: not ready after 10s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    root,
    log: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}
