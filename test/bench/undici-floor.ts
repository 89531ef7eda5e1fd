// The least a Node program on undici does for what `skopeo inspect --tls-verify=false` asks of a
// registry: an https attempt, the http ping, the manifest, the config blob and the tag list, with
// no Portcullis code, no config files and no checks. test/bench/cli-startup.bench.ts bundles it as
// the CLI is bundled and times it next to `inspect`: the part of `inspect`'s time no change to
// Portcullis can remove. Run by the bench: node FLOOR.js HOST REPO TAG
import { setFlagsFromString } from 'node:v8';
import dispatch from 'undici/lib/api/api-request.js';
import Agent from 'undici/lib/dispatcher/agent.js';

const [host, repo, tag] = process.argv.slice(2) as [string, string, string];
const agent = new Agent({ connect: { rejectUnauthorized: false, ca: [] } });
const get = (url: string, headers: Record<string, string> = {}) => {
  const u = new URL(url);
  return dispatch.call(agent, { origin: u.origin, path: u.pathname, method: 'GET', headers });
};
// as the CLI does (src/image/transports/docker/http.ts): no tier-up for the parser
setFlagsFromString('--wasm-tiering-budget=2147483647');
try {
  await get(`https://${host}/v2/`);
} catch {
  // a plain-http registry: on to http, as skopeo does
}
await (await get(`http://${host}/v2/`)).body.dump();
setFlagsFromString('--wasm-tiering-budget=13000000');
const base = `http://${host}/v2/${repo}`;
const accept =
  'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
const manifest = await (await get(`${base}/manifests/${tag}`, { accept })).body.json();
const config = await (await get(`${base}/blobs/${manifest.config.digest}`)).body.json();
const tags = await (await get(`${base}/tags/list`)).body.json();
process.stdout.write(`${JSON.stringify({ manifest, config, tags })}\n`);
process.exit(0);
