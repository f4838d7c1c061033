/**
 * A streaming static file server on 127.0.0.1 for the download benchmark.
 *
 * test/support/media-server.ts reads the whole file into memory for every
 * request, which is fine for test clips but would measure the server, not the
 * clients, with a 200 MiB file fetched as 25+ ranged requests (and 20 such
 * downloads at once). This one streams straight from the page cache with
 * single-range support, a strong ETag and Last-Modified (If-Range works), so
 * every client gets the same, cheap server.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream';
import { parseRange } from '../../test/support/media-server.js';

export interface FileServer {
  /** `http://127.0.0.1:PORT` (no trailing slash) */
  url: string;
  /** requests answered, by status */
  statuses: Record<string, number>;
  /** GET requests that carried a Range header */
  rangedRequests: number;
  stop(): Promise<void>;
}

const READ_CHUNK = 1024 * 1024;

export async function startFileServer(dir: string): Promise<FileServer> {
  const root = path.resolve(dir);
  const statuses: Record<string, number> = {};
  let rangedRequests = 0;

  const server = http.createServer((req, res) => {
    res.on('finish', () => (statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1));
    void serve(req, res).catch(() => {
      if (!res.headersSent) end(res, 500);
      else res.destroy();
    });
  });

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return end(res, 405);
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(root, urlPath);
    if (!file.startsWith(root + path.sep)) return end(res, 404);
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) return end(res, 404);

    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const lastModified = st.mtime.toUTCString();
    res.setHeader('Content-Type', file.endsWith('.mp4') ? 'video/mp4' : 'application/octet-stream');
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('ETag', etag);
    res.setHeader('Last-Modified', lastModified);

    const ifRange = req.headers['if-range'];
    const rangeHeader =
      ifRange === undefined || ifRange === etag || ifRange === lastModified ? req.headers.range : undefined;
    if (req.headers.range !== undefined && req.method === 'GET') rangedRequests++;
    const range = parseRange(rangeHeader, st.size);
    if (range === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${st.size}`);
      return end(res, 416);
    }
    let start = 0;
    let last = st.size - 1;
    if (range) {
      ({ start, end: last } = range);
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${start}-${last}/${st.size}`);
    }
    res.setHeader('Content-Length', last - start + 1);
    if (req.method === 'HEAD' || st.size === 0) return void res.end();
    // A client that stops reading (chunk complete, probe cancelled) closes the socket: the read stream goes with it.
    pipeline(createReadStream(file, { start, end: last, highWaterMark: READ_CHUNK }), res, () => undefined);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    statuses,
    get rangedRequests() {
      return rangedRequests;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function end(res: http.ServerResponse, status: number): void {
  res.statusCode = status;
  res.setHeader('Content-Length', 0);
  res.end();
}
