/**
 * A tiny static media server on 127.0.0.1 for engine and download tests.
 * It serves a directory with real Range support and og:video pages, and can
 * misbehave per path (fail, drop mid-body, lie about length, trickle, hang)
 * so retry and resume logic can be exercised against a real socket.
 */
import http from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface PathBehavior {
  /** Destroy the socket after this many body bytes of a GET response. */
  dropAfterBytes?: number;
  /** 'once' (default): only the first GET is cut; 'always': every GET is. */
  dropMode?: 'once' | 'always';
  /** Answer the first N requests with `failStatus` (default 403). */
  failFirst?: number;
  failStatus?: number;
  /** Announce more bytes than are sent, then close the connection. */
  wrongContentLength?: boolean;
  /** Trickle the body at roughly this rate. */
  throttleBytesPerSec?: number;
  /** Wait this long before answering at all (Infinity: never answer). */
  delayMs?: number;
}

export interface MediaServerOptions {
  /** Behaviour keyed by URL path, e.g. `/muxed-3s-320x240.mp4`. */
  paths?: Record<string, PathBehavior>;
}

export interface RequestRecord {
  method: string;
  path: string;
  range: string | undefined;
  status: number;
}

export interface MediaServer {
  /** `http://127.0.0.1:PORT` (no trailing slash) */
  url: string;
  port: number;
  /** requests seen per URL path (every method, including failed ones) */
  requests: Map<string, number>;
  /** every request in arrival order, with the status it got */
  log: RequestRecord[];
  /** Changes (or with undefined, clears) a path's behaviour while running; its fail/drop counters restart. */
  setBehavior(urlPath: string, behavior: PathBehavior | undefined): void;
  stop(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.mp4': 'video/mp4',
  '.m4a': 'audio/mp4',
  '.webm': 'video/webm',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.mpd': 'application/dash+xml',
  '.html': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export const pageTitle = (name: string): string => `Test clip ${name}`;
export const pageDescription = (name: string): string => `A generated test clip called ${name}.`;

/** An og:video page for `/page/NAME.html`; NAME without an extension means NAME.mp4. */
function ogPage(base: string, name: string): string {
  const media = path.extname(name) ? name : `${name}.mp4`;
  return `<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<title>${pageTitle(name)}</title>
<meta property="og:title" content="${pageTitle(name)}">
<meta property="og:description" content="${pageDescription(name)}">
<meta property="og:type" content="video.other">
<meta property="og:video" content="${base}/${media}">
<meta property="og:video:type" content="${contentTypeOf(media)}">
</head><body><p>${pageTitle(name)}</p></body></html>
`;
}

type Range = { start: number; end: number } | 'unsatisfiable' | null;

/** Single `bytes=` ranges only; anything else is ignored (RFC 9110 allows serving 200). */
export function parseRange(header: string | undefined, size: number): Range {
  const m = header?.match(/^bytes=(\d*)-(\d*)$/);
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return null; // syntactically invalid: ignore
  }
  return start >= size ? 'unsatisfiable' : { start, end };
}

export async function startMediaServer(dir: string, options: MediaServerOptions = {}): Promise<MediaServer> {
  const root = path.resolve(dir);
  const behaviors = new Map(Object.entries(options.paths ?? {}));
  const requests = new Map<string, number>();
  const failures = new Map<string, number>();
  const drops = new Map<string, number>();
  const log: RequestRecord[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let base = '';

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, urlPath: string): Promise<void> {
    const b = behaviors.get(urlPath) ?? {};
    const isHead = req.method === 'HEAD';
    if (req.method !== 'GET' && !isHead) return plain(res, 405, 'method not allowed');

    const failed = failures.get(urlPath) ?? 0;
    if (b.failFirst && failed < b.failFirst) {
      failures.set(urlPath, failed + 1);
      return plain(res, b.failStatus ?? 403, 'forbidden (failFirst)');
    }

    const page = urlPath.match(/^\/page\/([^/]+)\.html$/);
    let body: Buffer;
    let type: string;
    if (page) {
      body = Buffer.from(ogPage(base, page[1]!));
      type = CONTENT_TYPES['.html']!;
    } else {
      const file = path.join(root, urlPath);
      // path.join normalises `..`; anything that escapes the root is simply not found.
      if (!file.startsWith(root + path.sep)) return plain(res, 404, 'not found');
      const st = await stat(file).catch(() => null);
      if (!st?.isFile()) return plain(res, 404, 'not found');
      body = await readFile(file);
      type = contentTypeOf(file);
    }

    const range = parseRange(req.headers.range, body.length);
    res.setHeader('Content-Type', type);
    res.setHeader('Accept-Ranges', 'bytes');
    if (range === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${body.length}`);
      return plain(res, 416, 'range not satisfiable');
    }
    if (range) {
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${body.length}`);
      body = body.subarray(range.start, range.end + 1);
    }
    res.setHeader('Content-Length', b.wrongContentLength ? body.length + 1000 : body.length);
    // With a lying length the client would wait forever on a kept-alive socket; closing ends the body early.
    if (b.wrongContentLength) res.setHeader('Connection', 'close');
    if (isHead) return void res.end();

    let limit = body.length;
    if (b.dropAfterBytes !== undefined) {
      const dropped = drops.get(urlPath) ?? 0;
      if (b.dropMode === 'always' || dropped === 0) {
        drops.set(urlPath, dropped + 1);
        limit = Math.min(limit, b.dropAfterBytes);
      }
    }
    send(res, body, limit, b.throttleBytesPerSec);
  }

  /** Writes body[0, limit) (throttled if asked), then ends, or destroys the socket when cut short. */
  function send(res: http.ServerResponse, body: Buffer, limit: number, rate: number | undefined): void {
    const finish = (): void => {
      if (limit < body.length) res.destroy();
      else if (res.getHeader('Connection') === 'close') res.end(() => res.socket?.destroy());
      else res.end();
    };
    if (!rate) {
      res.write(body.subarray(0, limit), finish);
      return;
    }
    const tickMs = 50;
    const chunk = Math.max(1, Math.floor((rate * tickMs) / 1000));
    let offset = 0;
    const tick = (): void => {
      if (res.destroyed) return;
      const next = Math.min(limit, offset + chunk);
      res.write(body.subarray(offset, next));
      offset = next;
      if (offset >= limit) finish();
      else later(tickMs, tick);
    };
    tick();
  }

  const server = http.createServer((req, res) => {
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return plain(res, 400, 'bad path');
    }
    requests.set(urlPath, (requests.get(urlPath) ?? 0) + 1);
    const record: RequestRecord = { method: req.method ?? '', path: urlPath, range: req.headers.range, status: 0 };
    log.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    res.on('close', () => (record.status ||= res.statusCode));

    const go = (): void => {
      handle(req, res, urlPath).catch((err: unknown) => {
        if (!res.headersSent) plain(res, 500, String(err));
        else res.destroy();
      });
    };
    const delay = behaviors.get(urlPath)?.delayMs;
    if (delay === Infinity) return; // never answer; stop() tears the socket down
    if (delay) later(delay, go);
    else go();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;

  return {
    url: base,
    port,
    requests,
    log,
    setBehavior(urlPath, behavior) {
      failures.delete(urlPath);
      drops.delete(urlPath);
      if (behavior) behaviors.set(urlPath, behavior);
      else behaviors.delete(urlPath);
    },
    stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(text);
}
