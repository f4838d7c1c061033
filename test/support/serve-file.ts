/** Serves one local file with single-range support: for replay routes that stand in for a media CDN. */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { RecordedRequest } from './replay-server.js';

export function serveFile(file: string, req: RecordedRequest, res: http.ServerResponse): void {
  const data = readFileSync(file);
  const m = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
  if (m) {
    const start = Number(m[1]);
    const end = m[2] ? Math.min(Number(m[2]), data.length - 1) : data.length - 1;
    res.writeHead(206, {
      'content-type': 'video/mp4',
      'content-length': end - start + 1,
      'content-range': `bytes ${start}-${end}/${data.length}`,
      'accept-ranges': 'bytes',
    });
    res.end(data.subarray(start, end + 1));
    return;
  }
  res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': data.length, 'accept-ranges': 'bytes' });
  res.end(data);
}
