import { DockerReferenceError } from './errors.ts';
import type { DockerReference } from './reference.ts';

/**
 * The policy identity of a docker reference: `name:tag` or `name@digest`. Name-only references
 * and references with both tag and digest have none.
 */
export function dockerReferenceIdentity(ref: DockerReference): string {
  if (ref.tag !== undefined && ref.digest !== undefined) {
    throw new DockerReferenceError(
      'REFERENCE_INVALID_FORMAT',
      `unexpected docker reference ${ref.toString()} with both a tag and a digest`,
    );
  }
  if (ref.isNameOnly()) {
    throw new DockerReferenceError(
      'REFERENCE_INVALID_FORMAT',
      `unexpected name-only reference ${ref.toString()}`,
    );
  }
  return ref.toString();
}

/**
 * The policy scopes a docker reference falls under, most specific first: the repository, each
 * parent namespace, the host[:port], then `*.`-wildcards of the host with one label dropped at a time.
 */
export function dockerReferenceNamespaces(ref: DockerReference): string[] {
  const result: string[] = [];
  let name = ref.name();
  for (;;) {
    result.push(name);
    const slash = name.lastIndexOf('/');
    if (slash < 0) break;
    name = name.slice(0, slash);
  }
  const colon = name.indexOf(':');
  let host = colon < 0 ? name : name.slice(0, colon);
  for (;;) {
    const dot = host.indexOf('.');
    if (dot < 0) break;
    host = host.slice(dot + 1);
    result.push(`*.${host}`);
  }
  return result;
}
