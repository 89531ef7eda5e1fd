// A tiny HTTPS client that trusts one CA and reports the certificate the server presented.
import { request } from 'node:https';

export interface HttpsResult {
  readonly status: number;
  readonly headers: import('node:http').IncomingHttpHeaders;
  readonly body: string;
  readonly fingerprint: string;
}

/** `ca: undefined` accepts any certificate, as a kubelet's probe does; `timeoutMs` fails a slow answer. */
export function httpsRequest(
  url: string,
  options: { ca: string | Buffer | undefined; method?: string; body?: unknown; timeoutMs?: number },
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = request(
      url,
      {
        method: options.method ?? (payload === undefined ? 'GET' : 'POST'),
        ...(options.ca === undefined ? { rejectUnauthorized: false } : { ca: options.ca }),
        agent: false,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, fingerprint }),
        );
        res.on('error', reject);
      },
    );
    if (options.timeoutMs !== undefined) {
      req.setTimeout(options.timeoutMs, () =>
        req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
      );
    }
    req.on('error', reject);
    req.end(payload);
  });
}
