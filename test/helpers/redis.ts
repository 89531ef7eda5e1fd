// Starts a real redis-server (Debian's) on a free loopback port, and puts it through what a
// shared cache meets in production: stopped, restarted on the same port, frozen (SIGSTOP).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './registry.ts';

export interface TestRedis {
  readonly port: number;
  /** redis:// (or rediss:// with TLS) URL, without credentials. */
  readonly url: string;
  /** Runs redis-cli against the server; resolves with its output. */
  cli(...args: string[]): Promise<string>;
  /** Stops the server (connections refused) until start(). */
  kill(): Promise<void>;
  /** Starts it again, empty, on the same port. */
  start(): Promise<void>;
  /** SIGSTOP: connections stay open, nothing answers. */
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

export interface RedisOptions {
  readonly password?: string;
  /** Serve TLS only, with this certificate and key (paths). */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
}

export async function startRedis(options: RedisOptions = {}): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';
  const args = [
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    ...(options.password === undefined ? [] : ['--requirepass', options.password]),
    ...(options.tls === undefined
      ? ['--port', String(port)]
      : [
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--tls-cert-file',
          options.tls.cert,
          '--tls-key-file',
          options.tls.key,
          '--tls-ca-cert-file',
          options.tls.ca,
          '--tls-auth-clients',
          'no',
        ]),
  ];
  const cliArgs = [
    '-p',
    String(port),
    ...(options.password === undefined ? [] : ['--no-auth-warning', '-a', options.password]),
    ...(options.tls === undefined ? [] : ['--tls', '--cacert', options.tls.ca]),
  ];
  const cli = async (...command: string[]) =>
    (await promisify(execFile)('redis-cli', [...cliArgs, ...command], { encoding: 'utf8' })).stdout.trim();
  const start = async () => {
    output = '';
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    started.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    started.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child = started;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (started.exitCode !== null)
        throw new Error(`redis-server exited with ${started.exitCode}:\n${output}`);
      if (/Ready to accept connections/.test(output)) return;
      if (Date.now() > deadline) {
        started.kill('SIGKILL');
        throw new Error(`redis-server not ready after 10s:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null) return;
    running.kill('SIGCONT');
    running.kill('SIGKILL');
    await once(running, 'exit');
  };
  await start();
  return {
    port,
    url: `${options.tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}`,
    cli,
    kill,
    start,
    freeze: () => child?.kill('SIGSTOP'),
    thaw: () => child?.kill('SIGCONT'),
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
