// Resolves a SystemContext into what a registry client needs: registries.conf sources, TLS
// settings from certs.d, credentials, registries.d signature storage. Defaults are settled here.
import { homedir } from 'node:os';
import { type DockerReference, parseNormalizedNamed } from '../../reference/index.ts';
import { certDirs, loadCerts } from '../../registries/certs.ts';
import { findCredentials } from '../../registries/credentials.ts';
import { loadRegistriesConf, type RegistriesConf } from '../../registries/registries-conf.ts';
import {
  loadRegistriesD,
  type SignatureStorage,
  signatureStorageFor,
} from '../../registries/registries-d.ts';
import { isShortName, resolveShortName } from '../../registries/short-names.ts';
import type { SystemContext } from '../../types.ts';
import { type ClientOptions, RegistryClient } from './client.ts';
import type { RegistrySession } from './session.ts';

export interface Environment {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly home: string;
  /** Built-in lookaside when registries.d configures none (upstream's per-user default). */
  readonly defaultLookaside: string;
}

/** The process environment, read once at the edge of the library. */
export function processEnvironment(): Environment {
  const home = homedir();
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return {
    env: process.env,
    home,
    defaultLookaside: root
      ? 'file:///var/lib/containers/sigstore'
      : `file://${home}/.local/share/containers/sigstore`,
  };
}

export async function registriesConfFor(
  ctx: SystemContext,
  environment: Environment,
): Promise<RegistriesConf> {
  return loadRegistriesConf({
    ...(ctx.registriesConfPath !== undefined ? { explicitPath: ctx.registriesConfPath } : {}),
    env: environment.env,
    home: environment.home,
  });
}

/**
 * The references a container runtime may pull for `image` as a pod spec writes it, in the order
 * it tries them. With a registries.conf (file or drop-in) short names resolve as CRI-O and
 * Podman resolve them (aliases, then unqualified-search registries; SHORT_NAME_* errors when
 * that fails or enforcing mode finds several); with none, they normalize to docker.io as
 * containerd and Docker do. Untagged names get `:latest`.
 */
export async function imageCandidates(
  image: string,
  ctx: SystemContext,
  environment: Environment,
): Promise<DockerReference[]> {
  // Fully-qualified names, the usual case, need no configuration at all.
  const conf = isShortName(image) ? await registriesConfFor(ctx, environment) : undefined;
  if (conf === undefined || conf.files.length === 0) return [parseNormalizedNamed(image).tagNameOnly()];
  const resolved = resolveShortName(conf, image);
  return resolved.kind === 'search' ? [...resolved.candidates] : [resolved.reference];
}

/**
 * A client for the registry of `ref` (a physical reference), with credentials for its repository,
 * remembering what it learns in `session`.
 */
export async function clientFor(
  ctx: SystemContext,
  ref: DockerReference,
  conf: RegistriesConf,
  insecureInConf: boolean,
  environment: Environment,
  session: RegistrySession,
): Promise<RegistryClient> {
  const host = ref.domain;
  const certs = await loadCerts(certDirs(host, ctx.certDir, environment.home));
  const tlsVerify = ctx.tlsVerify ?? true;
  const creds = await findCredentials({
    repository: ref.name(),
    env: environment.env,
    home: environment.home,
    ...(ctx.credentials !== undefined ? { explicit: ctx.credentials } : {}),
    ...(ctx.noCredentials !== undefined ? { noCredentials: ctx.noCredentials } : {}),
    ...(ctx.dockerConfigJson !== undefined ? { dockerConfigJson: ctx.dockerConfigJson } : {}),
    ...(ctx.authFilePath !== undefined ? { authFilePath: ctx.authFilePath } : {}),
    credentialHelpers: conf.credentialHelpers,
  });
  const options: ClientOptions = {
    registry: host,
    // Plain HTTP only where configured, as skopeo: --tls-verify=false or registries.conf `insecure`
    // (a loopback registry gets no exception: another local user may be listening there).
    insecure: !tlsVerify || insecureInConf,
    tls: {
      verify: tlsVerify && !insecureInConf,
      ca: certs.ca,
      ...(certs.cert !== undefined ? { cert: certs.cert } : {}),
      ...(certs.key !== undefined ? { key: certs.key } : {}),
    },
    ...(creds !== undefined ? { credentials: creds } : {}),
    ...(ctx.registryToken !== undefined ? { registryToken: ctx.registryToken } : {}),
    userAgent: ctx.userAgent ?? 'portcullis/0.1.0',
    ...(ctx.signal !== undefined ? { signal: ctx.signal } : {}),
    ...(ctx.deadline !== undefined ? { deadline: ctx.deadline } : {}),
    session,
  };
  return new RegistryClient(options);
}

export async function signatureStorage(
  ctx: SystemContext,
  ref: DockerReference,
  environment: Environment,
): Promise<SignatureStorage> {
  const d = await loadRegistriesD(ctx.registriesDirPath, environment.home);
  const s = signatureStorageFor(d, ref);
  return s.lookaside === undefined && s.lookasideWrite === undefined
    ? { ...s, lookaside: environment.defaultLookaside, lookasideWrite: environment.defaultLookaside }
    : s;
}
