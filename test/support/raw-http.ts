/**
 * One HTTP request with the path sent byte for byte: fetch() normalises
 * `../` and encodes what it likes, which would hide exactly the inputs
 * hostile-input tests need to send.
 */
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** the body parsed as JSON, or undefined */
  json: any;
}

export interface RawRequest {
  method?: string;
  /** sent as is, e.g. `/api/v2/downloads/../../etc/passwd` */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** send the body chunked, without a Content-Length */
  chunked?: boolean;
  timeoutMs?: number;
}

export function rawRequest(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: base.hostname,
        port: base.port,
        method: req.method ?? 'GET',
        path: req.path,
        headers: {
          ...(req.body !== undefined && !req.chunked ? { 'content-length': String(Buffer.byteLength(req.body)) } : {}),
          ...req.headers,
        },
        timeout: req.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no answer to ${req.method ?? 'GET'} ${req.path}`)));
    r.on('error', reject);
    if (req.body !== undefined) {
      // Chunked bodies go out in pieces, as a streaming client would send them.
      const body = Buffer.from(req.body);
      const step = req.chunked ? 64 * 1024 : body.length || 1;
      for (let i = 0; i < body.length; i += step) r.write(body.subarray(i, i + step));
    }
    r.end();
  });
}
