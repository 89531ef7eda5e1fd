// A read-only static file server for the node: GPG signatures in a lookaside folder, served over
// HTTP as a web server would serve them to the webhook's pods.
// usage: node serve-files.ts ROOT HOST PORT
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';

const [root, host, port] = process.argv.slice(2);
if (root === undefined || host === undefined || port === undefined) {
  process.stderr.write('usage: serve-files.ts ROOT HOST PORT\n');
  process.exit(2);
}

createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
  const file = join(root, path);
  let size = -1;
  try {
    const stat = statSync(file);
    if (stat.isFile()) size = stat.size;
  } catch {
    // not found
  }
  if ((req.method !== 'GET' && req.method !== 'HEAD') || path.includes('..') || size < 0) {
    res.writeHead(req.url === '/' ? 200 : 404).end();
    return;
  }
  res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
}).listen(Number(port), host);
