// The least a Node program on undici (and openpgp) does for the benchmark's two commands, with no
// Portcullis code, no config files and no checks beyond the library calls:
// - inspect: what `skopeo inspect --tls-verify=false` asks of a registry: an https attempt, the
//   http ping, the manifest, the config blob and the tag list;
// - verify: what `policy eval` of a signedBy policy needs: the https attempt, the ping, the
//   manifest, then the signature (a lookaside file) verified by openpgp against the key file.
// test/bench/cli-startup.bench.ts bundles it as the CLI is bundled and times it next to the CLI:
// the part of each command's time no change to Portcullis can remove.
// Run by the bench: node FLOOR.js inspect HOST REPO TAG | node FLOOR.js verify HOST REPO TAG KEY SIG
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type * as OpenPGP from 'openpgp';
import dispatch from 'undici/lib/api/api-request.js';
import Agent from 'undici/lib/dispatcher/agent.js';

const [mode, host, repo, tag, keyFile, sigFile] = process.argv.slice(2) as string[];
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
if (mode === 'inspect') {
  const config = await (await get(`${base}/blobs/${manifest.config.digest}`)).body.json();
  const tags = await (await get(`${base}/tags/list`)).body.json();
  process.stdout.write(`${JSON.stringify({ manifest, config, tags })}\n`);
} else {
  // as src/image/signature/gpg/openpgp.ts loads it
  const openpgp = createRequire(import.meta.url)('openpgp') as typeof OpenPGP;
  const [key, sig] = await Promise.all([readFile(keyFile!), readFile(sigFile!)]);
  const result = await openpgp.verify({
    message: await openpgp.readMessage({ binaryMessage: sig }),
    verificationKeys: await openpgp.readKeys({ binaryKeys: key }),
    format: 'binary',
  });
  await result.signatures[0]!.verified;
  process.stdout.write(`${new TextDecoder().decode(result.data as Uint8Array)}\n`);
}
process.exit(0);
