export { checkDockerLogin, listDockerTags } from './api.ts';
export {
  MANIFEST_ACCEPT,
  type ManifestResult,
  RegistryClient,
} from './client.ts';
export {
  clientFor,
  type Environment,
  imageCandidates,
  processEnvironment,
  registriesConfFor,
} from './context.ts';
export { DockerImageDestination } from './destination.ts';
export { DockerError, type DockerErrorCode, isManifestAbsent } from './errors.ts';
export { asBackgroundWork, type BackgroundWork, isBackgroundWork } from './gate.ts';
export {
  closeAllAgents,
  DOCKER_HUB_ANONYMOUS_BUDGET,
  type RegistryBudget,
  RegistrySession,
  sharedRegistrySession,
} from './session.ts';
export { DockerImageSource } from './source.ts';
export { describeRequest, onRequest, REQUEST_CHANNEL, type RequestEvent } from './trace.ts';
export { DockerImageReference, DockerTransport } from './transport.ts';
