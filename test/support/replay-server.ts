/**
 * Replay server for recorded platform responses. The service under test runs
 * unmodified with YTBH_UPSTREAM_REWRITE pointing here: a request for
 * https://HOST/PATH?Q arrives as /HOST/PATH?Q and is answered from the
 * fixture whose host, path and `match` predicates fit best.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export const FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/platforms');

export interface RecordedRequest {
  method: string;
  host: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: unknown;
  route: string | null;
}

export interface ReplayRoute {
  name: string;
  method: string;
  host: string;
  path: string;
  /** key → expected value; keys: `query.x`, `body.a.b`, or a bare name looked up in body/playerRequest/query */
  match?: Record<string, unknown>;
  status?: number;
  contentType?: string;
  headers?: Record<string, string>;
  /** fixture path relative to FIXTURES_DIR */
  file?: string;
  body?: string | Buffer;
  handler?: (req: RecordedRequest, res: http.ServerResponse) => void | Promise<void>;
  /** delay before answering, ms (for single-flight tests) */
  delayMs?: number;
}

interface IndexEntry {
  file: string;
  method: string;
  url: string;
  status: number | null;
  content_type?: string;
  match?: Record<string, unknown> | null;
}

/** Routes for every concrete (non-templated) entry of the fixture index. */
export function indexRoutes(ignoreKeys: string[] = []): ReplayRoute[] {
  const index = JSON.parse(readFileSync(path.join(FIXTURES_DIR, 'index.json'), 'utf8')) as IndexEntry[];
  const routes: ReplayRoute[] = [];
  for (const e of index) {
    if (e.status == null || !/^https?:\/\//.test(e.url) || /[{}]|\.\.\./.test(e.url)) continue;
    const u = new URL(e.url);
    const match: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e.match ?? {})) if (v !== null && !ignoreKeys.includes(k)) match[k] = v;
    // Watch pages are told apart by their query (v=...), which the index keeps in the URL.
    if (e.method === 'GET') for (const [k, v] of u.searchParams) if (!(`query.${k}` in match)) match[`query.${k}`] = v;
    routes.push({
      name: e.file,
      method: e.method,
      host: u.host,
      path: u.pathname,
      match,
      status: e.status,
      ...(e.content_type ? { contentType: e.content_type } : {}),
      file: e.file,
    });
  }
  return routes;
}

function deepGet(obj: unknown, dotted: string): unknown {
  let cur: unknown = obj;
  for (const part of dotted.split('.')) {
    if (cur == null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Expected object values match when every recorded key matches (extra request keys are fine). */
function matches(expected: unknown, actual: unknown): boolean {
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return false;
    return Object.entries(expected as Record<string, unknown>).every(([k, v]) =>
      matches(v, (actual as Record<string, unknown>)[k]),
    );
  }
  if (actual === undefined || actual === null) return false;
  return String(expected) === String(actual);
}

function lookup(req: RecordedRequest, key: string): unknown {
  if (key.startsWith('query.')) return req.query.get(key.slice(6)) ?? undefined;
  if (key.startsWith('body.')) return deepGet(req.json, key.slice(5));
  const json = req.json as Record<string, unknown> | null;
  return (
    deepGet(json, key) ??
    deepGet(json, `playerRequest.${key}`) ??
    req.query.get(key === 'videoId' ? 'id' : key) ??
    undefined
  );
}

export class ReplayServer {
  readonly requests: RecordedRequest[] = [];
  readonly hits = new Map<string, number>();
  private routes: ReplayRoute[] = [];
  private server: http.Server;
  port = 0;

  constructor(routes: ReplayRoute[] = []) {
    this.routes = [...routes];
    this.server = http.createServer((req, res) => {
      void this.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Later routes win ties, so tests can override index routes. */
  add(...routes: ReplayRoute[]): this {
    this.routes.push(...routes);
    return this;
  }

  hitCount(name: string): number {
    return this.hits.get(name) ?? 0;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const u = new URL(req.url ?? '/', 'http://replay');
    const [, host = '', ...rest] = u.pathname.split('/');
    let json: unknown = null;
    try {
      json = body ? JSON.parse(body) : null;
    } catch {
      json = null;
    }
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      host,
      path: '/' + rest.join('/'),
      query: u.searchParams,
      headers: req.headers,
      body,
      json,
      route: null,
    };
    this.requests.push(rec);

    let best: ReplayRoute | undefined;
    let bestScore = -1;
    for (const r of this.routes) {
      if (r.method !== rec.method || r.host !== rec.host || r.path !== rec.path) continue;
      const preds = Object.entries(r.match ?? {});
      if (!preds.every(([k, v]) => matches(v, lookup(rec, k)))) continue;
      if (preds.length >= bestScore) {
        best = r;
        bestScore = preds.length;
      }
    }
    if (!best) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ replay: 'no fixture matches', method: rec.method, host, path: rec.path }));
      return;
    }
    rec.route = best.name;
    this.hits.set(best.name, (this.hits.get(best.name) ?? 0) + 1);
    if (best.delayMs) await new Promise((r) => setTimeout(r, best.delayMs));
    if (best.handler) return best.handler(rec, res);
    const payload = best.file ? readFileSync(path.join(FIXTURES_DIR, best.file)) : (best.body ?? '');
    res.writeHead(best.status ?? 200, {
      'content-type': best.contentType ?? 'application/json',
      ...best.headers,
    });
    res.end(payload);
  }
}

/** A replay server preloaded with every concrete fixture of the index. */
export async function startReplayServer(extra: ReplayRoute[] = [], ignoreKeys: string[] = []): Promise<ReplayServer> {
  return new ReplayServer(indexRoutes(ignoreKeys)).add(...extra).start();
}
