// certs.d directories: *.crt are extra CAs, *.cert + *.key are a client certificate pair.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RegistriesError } from './errors.ts';
import { cachedFromFiles, type TrackedFiles } from './file-cache.ts';

export interface CertSettings {
  readonly ca: string[];
  readonly cert?: string;
  readonly key?: string;
}

const MAX_CERT_FILE = 1 << 20;

/** Directories searched for `host[:port]`: the explicit one only, else the standard locations. */
export function certDirs(host: string, explicit?: string, home: string = homedir()): string[] {
  if (explicit !== undefined && explicit !== '') return [explicit];
  return [
    join(home, '.config/containers/certs.d', host),
    join('/etc/containers/certs.d', host),
    join('/etc/docker/certs.d', host),
  ];
}

async function readSmall(files: TrackedFiles, path: string): Promise<string> {
  const text = await files.readFile(path);
  if (text === undefined) throw new RegistriesError('CERTS_INVALID', `${path}: removed while reading`);
  if (text.length > MAX_CERT_FILE)
    throw new RegistriesError('CERTS_INVALID', `${path}: larger than ${MAX_CERT_FILE} bytes`);
  return text;
}

/**
 * Reads the first existing directory; a .cert without its .key (or the reverse) is an error.
 * Cached per process until a file or directory read changes.
 */
export function loadCerts(dirs: readonly string[]): Promise<CertSettings> {
  return cachedFromFiles(JSON.stringify(['certs.d', dirs]), (files) => loadUncached(dirs, files));
}

async function loadUncached(dirs: readonly string[], files: TrackedFiles): Promise<CertSettings> {
  for (const dir of dirs) {
    let listed: string[] | undefined;
    try {
      listed = await files.readdir(dir);
    } catch (err) {
      throw new RegistriesError('CERTS_INVALID', `reading ${dir}: ${(err as Error).message}`, { cause: err });
    }
    if (listed === undefined) continue;
    const names = listed.sort();
    const result: { ca: string[]; cert?: string; key?: string } = { ca: [] };
    for (const name of names) {
      if (name.endsWith('.crt')) result.ca.push(await readSmall(files, join(dir, name)));
      else if (name.endsWith('.cert')) {
        const keyName = `${name.slice(0, -'.cert'.length)}.key`;
        if (!names.includes(keyName))
          throw new RegistriesError('CERTS_INVALID', `${join(dir, name)}: missing key ${keyName}`);
        result.cert = await readSmall(files, join(dir, name));
        result.key = await readSmall(files, join(dir, keyName));
      } else if (name.endsWith('.key')) {
        const certName = `${name.slice(0, -'.key'.length)}.cert`;
        if (!names.includes(certName))
          throw new RegistriesError('CERTS_INVALID', `${join(dir, name)}: missing certificate ${certName}`);
      }
    }
    return result;
  }
  return { ca: [] };
}
