// certs.d directories: *.crt are extra CAs, *.cert + *.key are a client certificate pair.
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RegistriesError } from './errors.ts';

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

async function readSmall(path: string): Promise<string> {
  const text = await readFile(path, 'utf8');
  if (text.length > MAX_CERT_FILE)
    throw new RegistriesError('CERTS_INVALID', `${path}: larger than ${MAX_CERT_FILE} bytes`);
  return text;
}

/** Reads the first existing directory; a .cert without its .key (or the reverse) is an error. */
export async function loadCerts(dirs: readonly string[]): Promise<CertSettings> {
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code === 'ENOENT' ||
        (err as NodeJS.ErrnoException).code === 'ENOTDIR'
      )
        continue;
      throw new RegistriesError('CERTS_INVALID', `reading ${dir}: ${(err as Error).message}`, { cause: err });
    }
    const result: { ca: string[]; cert?: string; key?: string } = { ca: [] };
    for (const name of names) {
      if (name.endsWith('.crt')) result.ca.push(await readSmall(join(dir, name)));
      else if (name.endsWith('.cert')) {
        const keyName = `${name.slice(0, -'.cert'.length)}.key`;
        if (!names.includes(keyName))
          throw new RegistriesError('CERTS_INVALID', `${join(dir, name)}: missing key ${keyName}`);
        result.cert = await readSmall(join(dir, name));
        result.key = await readSmall(join(dir, keyName));
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
