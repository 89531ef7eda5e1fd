export {
  type DockerTransportReference,
  parseDockerTransportReference,
  UNKNOWN_DIGEST_SUFFIX,
} from './docker-transport.ts';
export { DockerReferenceError, type DockerReferenceErrorCode } from './errors.ts';
export { compilePathPattern, familiarMatch } from './match.ts';
export { dockerReferenceIdentity, dockerReferenceNamespaces } from './namespaces.ts';
export {
  type AnyReference,
  anyReferenceFamiliarString,
  DEFAULT_DOMAIN,
  type DigestOnlyReference,
  DockerReference,
  NAME_TOTAL_LENGTH_MAX,
  parse,
  parseAnyReference,
  parseDockerRef,
  parseNamed,
  parseNormalizedNamed,
  REFERENCE_INPUT_MAX,
  withName,
} from './reference.ts';
export {
  anchoredIdentifierRegexp,
  anchoredNameRegexp,
  digestRegexp,
  domainRegexp,
  referenceRegexp,
  tagRegexp,
} from './regexp.ts';
