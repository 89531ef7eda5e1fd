// Path rules shared by the file-based transports (upstream explicitfilepath and oci/internal).
import { lstatSync, realpathSync } from 'node:fs';
import { basename, dirname, join, normalize, resolve } from 'node:path';
import { type Digest, parseDigest } from '../digest.ts';
import { LocalTransportError } from './errors.ts';

/** An absolute path with every symlink resolved; a missing last component is kept as named. */
export function resolvePathToFullyExplicit(path: string): string {
  const absolute = resolve(path);
  try {
    lstatSync(absolute);
    return realpathSync(absolute);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const file = basename(path);
  if (file === '.' || file === '..' || file === '') {
    throw new LocalTransportError(
      'REFERENCE_INVALID',
      `unexpectedly missing special filename component in ${path}`,
    );
  }
  try {
    return join(realpathSync(dirname(absolute)), file);
  } catch (err) {
    throw new LocalTransportError('REFERENCE_INVALID', `resolving ${path}: parent directory does not exist`, {
      cause: err,
    });
  }
}

/** policy.json scope rule of dir:, oci:, oci-archive:, sif:: absolute, canonical, not "/". */
export function validateAbsolutePathScope(scope: string): void {
  if (!scope.startsWith('/')) {
    throw new LocalTransportError('SCOPE_INVALID', `invalid scope ${scope}: must be an absolute path`);
  }
  if (scope === '/') {
    throw new LocalTransportError('SCOPE_INVALID', 'invalid scope "/": use the generic default scope ""');
  }
  const cleaned = normalize(scope).replace(/(.)\/+$/, '$1');
  if (cleaned !== scope) {
    throw new LocalTransportError(
      'SCOPE_INVALID',
      `invalid scope ${scope}: uses non-canonical format, perhaps try ${cleaned}`,
    );
  }
}

/** Parent directories of `path`, nearest first, without "/" (dir:, sif:). */
export function parentDirectories(path: string): string[] {
  const out: string[] = [];
  let p = path;
  for (;;) {
    const slash = p.lastIndexOf('/');
    if (slash <= 0) break;
    p = p.slice(0, slash);
    out.push(p);
  }
  return out;
}

/** `path` itself, then its parents, without "/" (oci:, oci-archive:). */
export function selfAndParentDirectories(path: string): string[] {
  return path === '/' ? [] : [path, ...parentDirectories(path)];
}

/** A digest re-validated before it becomes part of a file name. */
export function checkedDigest(d: string): Digest {
  return parseDigest(d);
}
