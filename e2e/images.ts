// Images for the cluster with a node, all built on this machine (tools/images.sh): the pause and
// kubectl images, a Debian base with Node 24, and the Portcullis image from the repository's
// Dockerfile. They reach the node's registry with skopeo or buildah push.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError, lastLines, run } from './processes.ts';

const imagesScript = join(dirname(fileURLToPath(import.meta.url)), 'tools', 'images.sh');

export interface OciLayout {
  /** Folder of an OCI image layout. */
  readonly layout: string;
}

export interface ScratchImages extends OciLayout {
  /** The Kubernetes release whose pause.c the pause image runs. */
  readonly kubernetesVersion: string;
}

export interface PortcullisImage {
  /** The image in buildah's storage under .cache/e2e-images. */
  readonly image: string;
  readonly buildSeconds: number;
  /** Uncompressed size as buildah reports it, e.g. "374 MB". */
  readonly size: string;
}

/** Runs tools/images.sh and returns its "name=value" lines; a failure names the step's log. */
async function images(args: string[], timeoutMs: number): Promise<Map<string, string>> {
  const result = await run('bash', [imagesScript, ...args], { timeoutMs, stderrTo: process.stderr });
  if (result.code !== 0) {
    throw new HarnessError(
      'E2E_BUILD_FAILED',
      `building the ${args[0]} image: ${lastLines(result.stderr, 25) || `images.sh exited with ${result.code}`}`,
    );
  }
  const values = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1));
  }
  return values;
}

function value(values: Map<string, string>, name: string): string {
  const found = values.get(name);
  if (found === undefined) throw new HarnessError('E2E_BUILD_FAILED', `images.sh reported no ${name}`);
  return found;
}

/** The OCI layout with tags `pause` and `kubectl` (the given binary), built once per release. */
export async function buildScratchImages(kubectl: string): Promise<ScratchImages> {
  const values = await images(['scratch', kubectl], 10 * 60_000);
  return { layout: value(values, 'layout'), kubernetesVersion: value(values, 'version') };
}

/**
 * The Portcullis image built by buildah from the repository's Dockerfile, on a Debian base with
 * the Node binary running this process (the npm `node` package) instead of the public image.
 */
export async function buildPortcullisImage(): Promise<PortcullisImage> {
  const base = value(await images(['node-base', process.execPath], 30 * 60_000), 'image');
  const built = await images(['portcullis', base], 30 * 60_000);
  return {
    image: value(built, 'image'),
    buildSeconds: Number(value(built, 'seconds')),
    size: value(built, 'size'),
  };
}

/** Pushes an image of buildah's storage to `dest` (plain HTTP); returns `repository@digest`. */
export async function pushBuiltImage(image: string, dest: string): Promise<string> {
  return withDigestFile(
    (digestFile) => images(['push', image, `docker://${dest}`, digestFile], 10 * 60_000),
    dest,
  );
}

/** Copies tag `tag` of an OCI layout to `dest` (plain HTTP) with skopeo; returns `repository@digest`. */
export async function pushOciImage(source: OciLayout, tag: string, dest: string): Promise<string> {
  return withDigestFile(async (digestFile) => {
    const copied = await run(
      'skopeo',
      [
        'copy',
        '--insecure-policy',
        '--dest-tls-verify=false',
        `--digestfile=${digestFile}`,
        `oci:${source.layout}:${tag}`,
        `docker://${dest}`,
      ],
      { timeoutMs: 5 * 60_000 },
    );
    if (copied.code !== 0) {
      throw new HarnessError(
        'E2E_COMMAND_FAILED',
        `skopeo copy ${tag} to ${dest}: ${lastLines(copied.stderr, 10)}`,
      );
    }
  }, dest);
}

async function withDigestFile(push: (digestFile: string) => Promise<unknown>, dest: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-push-'));
  try {
    const digestFile = join(dir, 'digest');
    await push(digestFile);
    const digest = (await readFile(digestFile, 'utf8')).trim();
    return `${repository(dest)}@${digest}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `host:port/path:tag` without its tag. */
export function repository(reference: string): string {
  const slash = reference.indexOf('/');
  const colon = reference.lastIndexOf(':');
  return colon > slash ? reference.slice(0, colon) : reference;
}
