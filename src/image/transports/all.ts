// The one place that knows every concrete transport; composition roots register these.
import type { ImageTransport } from '../types.ts';
import { DockerTransport } from './docker/index.ts';

export function allTransports(): ImageTransport[] {
  return [new DockerTransport()];
}
