// The ServerConfig the in-process webhook tests start from: loopback, any port, quiet, no drain.
import { DEFAULT_CACHE_LIMITS } from '../../src/cache/index.ts';
import type { ServerConfig } from '../../src/server.ts';

export function loopbackServerConfig(
  tls: { tlsCertPath: string; tlsKeyPath: string },
  overrides: Partial<ServerConfig> = {},
): ServerConfig {
  return {
    policyPath: undefined,
    host: '127.0.0.1',
    port: 0,
    ...tls,
    deadlineMs: 5000,
    mode: 'enforce',
    unknownKinds: 'allow',
    bodyLimit: 1024 * 1024,
    logLevel: 'silent',
    platform: 'linux/amd64',
    watchIntervalMs: 60_000,
    shutdownDelayMs: 0,
    cache: DEFAULT_CACHE_LIMITS,
    ...overrides,
  };
}
