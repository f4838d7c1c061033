/**
 * The one outbound HTTP client, against real node:http servers on 127.0.0.1
 * (port 0, so files run in parallel). Nothing here talks to anything but
 * loopback: every "public" URL is sent through YTBH_UPSTREAM_REWRITE to the
 * local echo server, which is exactly the replay contract under test.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import { DEFAULT_USER_AGENT, HttpClient } from '../../src/infra/http-client/http-client.js';
import { rewriteUrl } from '../../src/infra/http-client/upstream-rewrite.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

/** Echo server: records every request and answers JSON describing it, unless a route says otherwise. */
interface TestServer {
  url: string;
  port: number;
  seen: Seen[];
  routes: Map<string, Handler>;
  close(): Promise<void>;
}

async function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function startEcho(host = '127.0.0.1'): Promise<TestServer> {
  const seen: Seen[] = [];
  const routes = new Map<string, Handler>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const entry: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(entry);
      const pathname = new URL(req.url ?? '/', 'http://x').pathname;
      const route = routes.get(pathname);
      if (route) return route(req, res, body);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(entry));
    });
  });
  const port = await listen(server, host);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${hostPart}:${port}`,
    port,
    seen,
    routes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function redirect(status: number, location: string): Handler {
  return (_req, res) => {
    res.writeHead(status, { location, 'content-type': 'text/plain' });
    res.end(`redirect to ${location}`);
  };
}

function answer(status: number, body: string, contentType = 'application/json'): Handler {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': contentType });
    res.end(body);
  };
}

async function catchError(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected the promise to reject');
}

let echo: TestServer;
/** Accepts TCP connections and never answers. */
let silent: net.Server;
let silentUrl: string;
const silentSockets = new Set<net.Socket>();
/** A port nothing listens on. */
let refusedUrl: string;
/** Client with the rewrite pointing at the echo server. */
let http1: HttpClient;
/** Client without rewrite (loopback targets only). */
let plain: HttpClient;

beforeAll(async () => {
  echo = await startEcho();
  silent = net.createServer((socket) => {
    silentSockets.add(socket);
    socket.on('close', () => silentSockets.delete(socket));
    socket.on('error', () => undefined);
  });
  silentUrl = `http://127.0.0.1:${await listen(silent)}`;
  const probe = net.createServer();
  const freePort = await listen(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  refusedUrl = `http://127.0.0.1:${freePort}`;
  http1 = new HttpClient({ upstreamRewrite: echo.url });
  plain = new HttpClient();
  // Precondition for every test below: the rewrite sends "public" hosts to loopback.
  expect(rewriteUrl('https://www.bilibili.com/x', echo.url).url).toBe(`${echo.url}/www.bilibili.com/x`);
});

afterAll(async () => {
  await http1.close();
  await plain.close();
  await echo.close();
  for (const s of silentSockets) s.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
});

beforeEach(() => {
  echo.seen.length = 0;
  echo.routes.clear();
});

describe('rewriteUrl', () => {
  const base = 'http://127.0.0.1:4000';
  it.each([
    ['https://www.bilibili.com/video/BV1xx411c7mD?p=2', '/www.bilibili.com/video/BV1xx411c7mD?p=2', 'www.bilibili.com'],
    [
      'https://api.bilibili.com/x/web-interface/view?bvid=BV1',
      '/api.bilibili.com/x/web-interface/view?bvid=BV1',
      'api.bilibili.com',
    ],
    ['https://www.youtube.com/', '/www.youtube.com/', 'www.youtube.com'],
    ['https://www.youtube.com', '/www.youtube.com/', 'www.youtube.com'],
    ['http://example.com/a/b', '/example.com/a/b', 'example.com'],
    ['https://example.com:8443/p?q=1&r=%20x', '/example.com:8443/p?q=1&r=%20x', 'example.com:8443'],
    ['https://example.com:443/p', '/example.com/p', 'example.com'],
    ['https://EXAMPLE.com/Path/UPPER', '/example.com/Path/UPPER', 'example.com'],
    ['https://example.com/p#fragment', '/example.com/p', 'example.com'],
    ['https://8.8.8.8/dns', '/8.8.8.8/dns', '8.8.8.8'],
    ['https://[2606:4700:4700::1111]/x', '/[2606:4700:4700::1111]/x', '[2606:4700:4700::1111]'],
  ])('%s → %s (X-Upstream-Host %s)', (target, path, host) => {
    expect(rewriteUrl(target, base)).toEqual({ url: `${base}${path}`, upstreamHost: host });
    // A trailing slash on the base changes nothing.
    expect(rewriteUrl(target, `${base}/`)).toEqual({ url: `${base}${path}`, upstreamHost: host });
    expect(rewriteUrl(new URL(target), base)).toEqual({ url: `${base}${path}`, upstreamHost: host });
  });

  it.each(['http://127.0.0.1:9999/x?y=1', 'http://127.1.2.3/x', 'http://localhost:9999/x', 'http://[::1]:9999/x'])(
    'never rewrites the loopback target %s',
    (target) => {
      expect(rewriteUrl(target, base)).toEqual({ url: new URL(target).toString(), upstreamHost: null });
    },
  );

  it('does nothing without a rewrite base', () => {
    expect(rewriteUrl('https://www.bilibili.com/x?y=1', undefined)).toEqual({
      url: 'https://www.bilibili.com/x?y=1',
      upstreamHost: null,
    });
    expect(rewriteUrl('https://www.bilibili.com/x', '')).toEqual({
      url: 'https://www.bilibili.com/x',
      upstreamHost: null,
    });
  });
});

describe('upstream rewrite', () => {
  it('sends https://HOST/PATH?QUERY to the rewrite base as /HOST/PATH?QUERY with X-Upstream-Host', async () => {
    const res = await http1.request('https://www.bilibili.com/video/BV1xx411c7mD?p=2&t=30');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Seen;
    expect(body.method).toBe('GET');
    expect(body.url).toBe('/www.bilibili.com/video/BV1xx411c7mD?p=2&t=30');
    expect(body.headers['x-upstream-host']).toBe('www.bilibili.com');
    expect(body.headers['user-agent']).toBe(DEFAULT_USER_AGENT);
    expect(echo.seen).toHaveLength(1);
  });

  it('exposes the rewrite base and accepts a base with a trailing slash', async () => {
    const c = new HttpClient({ upstreamRewrite: `${echo.url}/` });
    try {
      expect(c.upstreamRewrite).toBe(`${echo.url}/`);
      const { status, text } = await c.getText(new URL('https://m.youtube.com/watch?v=dQw4w9WgXcQ'));
      expect(status).toBe(200);
      expect((JSON.parse(text) as Seen).url).toBe('/m.youtube.com/watch?v=dQw4w9WgXcQ');
    } finally {
      await c.close();
    }
    expect(new HttpClient({ upstreamRewrite: '' }).upstreamRewrite).toBeUndefined();
  });

  it('keeps a non-default port in the path and in X-Upstream-Host', async () => {
    const body = await http1.json<Seen>('https://example.com:8443/a/b?c=d');
    expect(body.url).toBe('/example.com:8443/a/b?c=d');
    expect(body.headers['x-upstream-host']).toBe('example.com:8443');
  });

  it.each([
    ['127.0.0.1', () => `${echo.url}/direct?x=1`],
    ['localhost', () => `http://localhost:${echo.port}/direct?x=1`],
  ])('never rewrites a loopback target (%s)', async (_name, target) => {
    const body = await http1.json<Seen>(target());
    expect(body.url).toBe('/direct?x=1');
    expect(body.headers['x-upstream-host']).toBeUndefined();
  });

  it('never rewrites an IPv6 loopback target ([::1])', async (ctx) => {
    let v6: TestServer;
    try {
      v6 = await startEcho('::1');
    } catch {
      return ctx.skip(); // no IPv6 loopback in this sandbox
    }
    try {
      const body = await http1.json<Seen>(`http://[::1]:${v6.port}/six?y=2`);
      expect(body.url).toBe('/six?y=2');
      expect(body.headers['x-upstream-host']).toBeUndefined();
      expect(echo.seen).toHaveLength(0);
    } finally {
      await v6.close();
    }
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])(
    'preserves method, headers and body through the rewrite (%s)',
    async (method) => {
      const payload = JSON.stringify({ context: { client: { clientName: 'WEB' } }, videoId: 'dQw4w9WgXcQ', 标题: '✓' });
      const res = await http1.request('https://www.youtube.com/youtubei/v1/player?prettyPrint=false', {
        method: method.toLowerCase(),
        headers: {
          'Content-Type': 'application/json',
          'X-Goog-Visitor-Id': 'visitor-123',
          Cookie: 'SID=abc; HSID=def',
          Referer: 'https://www.youtube.com/',
          Origin: 'https://www.youtube.com',
        },
        body: payload,
      });
      const seen = (await res.json()) as Seen;
      expect(seen.method).toBe(method);
      expect(seen.url).toBe('/www.youtube.com/youtubei/v1/player?prettyPrint=false');
      expect(seen.body).toBe(payload);
      expect(seen.headers).toMatchObject({
        'content-type': 'application/json',
        'x-goog-visitor-id': 'visitor-123',
        cookie: 'SID=abc; HSID=def',
        referer: 'https://www.youtube.com/',
        origin: 'https://www.youtube.com',
        'x-upstream-host': 'www.youtube.com',
      });
    },
  );

  it('sends a binary (Uint8Array) body byte for byte', async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 251, 252, 253, 254, 255]);
    const raw = await startRawBodyServer();
    try {
      const c = new HttpClient({ upstreamRewrite: raw.url });
      const res = await c.request('https://upload.example.com/bin', { method: 'POST', body: bytes });
      expect(await res.json()).toEqual({ hex: Buffer.from(bytes).toString('hex'), host: 'upload.example.com' });
      await c.close();
    } finally {
      await raw.close();
    }
  });

  it('lets the caller override the User-Agent but not X-Upstream-Host', async () => {
    const body = await http1.json<Seen>('https://www.tiktok.com/@user/video/1', {
      headers: { 'User-Agent': 'custom-agent/1.0', 'X-Upstream-Host': 'evil.example' },
    });
    expect(body.headers['user-agent']).toBe('custom-agent/1.0');
    expect(body.headers['x-upstream-host']).toBe('www.tiktok.com');
  });

  it('does not add X-Upstream-Host without a rewrite', async () => {
    const body = await plain.json<Seen>(`${echo.url}/no-rewrite`);
    expect(body.url).toBe('/no-rewrite');
    expect(body.headers['x-upstream-host']).toBeUndefined();
  });
});

/** A server that answers with the hex of the raw request body and the X-Upstream-Host it saw. */
async function startRawBodyServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ hex: Buffer.concat(chunks).toString('hex'), host: req.headers['x-upstream-host'] }));
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('redirects', () => {
  it('follows a recorded 302 to https://www.bilibili.com/... back to the replay server, hop by hop', async () => {
    echo.routes.set('/b23.tv/abcd', redirect(302, 'https://www.bilibili.com/video/BV1xx411c7mD?share_source=copy'));
    const res = await http1.request('https://b23.tv/abcd');
    expect(res.status).toBe(200);
    const last = (await res.json()) as Seen;
    expect(last.url).toBe('/www.bilibili.com/video/BV1xx411c7mD?share_source=copy');
    expect(echo.seen.map((s) => [s.url, s.headers['x-upstream-host']])).toEqual([
      ['/b23.tv/abcd', 'b23.tv'],
      ['/www.bilibili.com/video/BV1xx411c7mD?share_source=copy', 'www.bilibili.com'],
    ]);
  });

  it('rewrites every hop of a multi-host chain, resolving relative Locations against the original URL', async () => {
    echo.routes.set('/a.example/start', redirect(301, 'https://b.example/next?x=1'));
    echo.routes.set('/b.example/next', redirect(302, '/relative/path?y=2'));
    echo.routes.set('/b.example/relative/path', redirect(307, '../sibling'));
    echo.routes.set('/b.example/sibling', redirect(308, '//c.example:8443/protocol-relative'));
    const res = await http1.request('https://a.example/start');
    expect(res.status).toBe(200);
    await res.body?.cancel();
    expect(echo.seen.map((s) => [s.method, s.url, s.headers['x-upstream-host']])).toEqual([
      ['GET', '/a.example/start', 'a.example'],
      ['GET', '/b.example/next?x=1', 'b.example'],
      ['GET', '/b.example/relative/path?y=2', 'b.example'],
      ['GET', '/b.example/sibling', 'b.example'],
      ['GET', '/c.example:8443/protocol-relative', 'c.example:8443'],
    ]);
  });

  it.each([301, 302, 303, 307, 308])('follows a %i for GET', async (status) => {
    echo.routes.set('/r.example/from', redirect(status, 'https://r.example/to'));
    const body = await http1.json<Seen>('https://r.example/from');
    expect(body.method).toBe('GET');
    expect(body.url).toBe('/r.example/to');
  });

  it('stops rewriting when a hop points at loopback (a loopback target is never rewritten)', async () => {
    echo.routes.set('/cdn.example/go', redirect(302, `${echo.url}/local-hop?z=3`));
    const local = new HttpClient({ upstreamRewrite: echo.url, allowPrivateAddresses: true });
    try {
      const body = await local.json<Seen>('https://cdn.example/go');
      expect(body.url).toBe('/local-hop?z=3');
      expect(body.headers['x-upstream-host']).toBeUndefined();
    } finally {
      await local.close();
    }
  });

  it.each(['http://127.0.0.1:9/x', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]/', 'http://localhost/'])(
    'refuses a platform redirect to the private address %s (no request is made)',
    async (target) => {
      echo.routes.set('/cdn.example/trap', redirect(302, target));
      const before = echo.seen.length;
      await expect(http1.request('https://cdn.example/trap')).rejects.toMatchObject({ code: 'invalid_url' });
      expect(echo.seen.length).toBe(before + 1);
    },
  );

  it("with redirect: 'manual' returns the 3xx as-is and makes one request", async () => {
    echo.routes.set('/b23.tv/manual', redirect(302, 'https://www.bilibili.com/video/BV1'));
    const res = await http1.request('https://b23.tv/manual', { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://www.bilibili.com/video/BV1');
    expect(await res.text()).toBe('redirect to https://www.bilibili.com/video/BV1');
    expect(echo.seen).toHaveLength(1);
  });

  it('returns a 3xx without a Location as-is', async () => {
    echo.routes.set('/x.example/no-location', answer(302, 'nowhere', 'text/plain'));
    const res = await http1.request('https://x.example/no-location');
    expect(res.status).toBe(302);
    expect(await res.text()).toBe('nowhere');
  });

  it.each([
    [303, 'POST', 'GET', ''],
    [303, 'PUT', 'GET', ''],
    [301, 'POST', 'GET', ''],
    [302, 'POST', 'GET', ''],
    [307, 'POST', 'POST', 'payload'],
    [308, 'POST', 'POST', 'payload'],
    [307, 'PUT', 'PUT', 'payload'],
  ])('a %i answering %s continues with %s', async (status, method, nextMethod, nextBody) => {
    echo.routes.set('/form.example/submit', redirect(status, 'https://form.example/done'));
    const body = await http1.json<Seen>('https://form.example/submit', {
      method,
      body: 'payload',
      headers: { 'content-type': 'text/plain' },
    });
    expect(echo.seen[0]).toMatchObject({ method, body: 'payload' });
    expect(body).toMatchObject({ method: nextMethod, url: '/form.example/done', body: nextBody });
    expect(body.headers['x-upstream-host']).toBe('form.example');
  });

  it('gives up after maxRedirects with upstream_error', async () => {
    const c = new HttpClient({ upstreamRewrite: echo.url, maxRedirects: 3 });
    echo.routes.set('/loop.example/a', redirect(302, 'https://loop.example/a'));
    try {
      const err = await catchError(c.request('https://loop.example/a'));
      expect(err.code).toBe('upstream_error');
      expect(err.message).toMatch(/redirect/i);
      expect(echo.seen).toHaveLength(4);
    } finally {
      await c.close();
    }
  });
});

describe('fetch (fetch-compatible, for youtubei.js)', () => {
  it('accepts a URL string and routes it through the rewrite', async () => {
    const res = await http1.fetch('https://www.youtube.com/sw.js_data?x=1');
    // A fetch Response (undici's class, so duck-typed rather than instanceof the global one).
    expect(res.ok).toBe(true);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(typeof res.text).toBe('function');
    expect(typeof res.arrayBuffer).toBe('function');
    const seen = (await res.json()) as Seen;
    expect(seen.url).toBe('/www.youtube.com/sw.js_data?x=1');
    expect(seen.headers['x-upstream-host']).toBe('www.youtube.com');
  });

  it('accepts a URL object', async () => {
    const res = await http1.fetch(new URL('https://www.youtube.com/iframe_api'));
    expect(((await res.json()) as Seen).url).toBe('/www.youtube.com/iframe_api');
  });

  it('takes method, headers and body from a Request object', async () => {
    const req = new Request('https://www.youtube.com/youtubei/v1/player?prettyPrint=false', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-youtube-client-name': '1' },
      body: JSON.stringify({ videoId: 'dQw4w9WgXcQ' }),
    });
    const seen = (await (await http1.fetch(req)).json()) as Seen;
    expect(seen).toMatchObject({
      method: 'POST',
      url: '/www.youtube.com/youtubei/v1/player?prettyPrint=false',
      body: JSON.stringify({ videoId: 'dQw4w9WgXcQ' }),
    });
    expect(seen.headers).toMatchObject({
      'content-type': 'application/json',
      'x-youtube-client-name': '1',
      'x-upstream-host': 'www.youtube.com',
    });
  });

  it('lets init override the method, headers and body of a Request', async () => {
    const req = new Request('https://www.youtube.com/youtubei/v1/next', {
      method: 'POST',
      headers: { 'x-from-request': 'yes' },
      body: 'from-request',
    });
    const seen = (await (
      await http1.fetch(req, { method: 'PUT', headers: { 'x-from-init': 'yes' }, body: 'from-init' })
    ).json()) as Seen;
    expect(seen).toMatchObject({ method: 'PUT', url: '/www.youtube.com/youtubei/v1/next', body: 'from-init' });
    expect(seen.headers['x-from-init']).toBe('yes');
    // As with fetch(), init.headers replaces the Request's headers.
    expect(seen.headers['x-from-request']).toBeUndefined();
  });

  it.each([
    ['string', 'payload-string'],
    ['Uint8Array', new TextEncoder().encode('payload-bytes')],
    ['ArrayBuffer', new TextEncoder().encode('payload-buffer').buffer],
    ['URLSearchParams', new URLSearchParams({ a: '1', b: 'two' })],
    ['Blob', new Blob(['payload-blob'])],
  ] as const)('accepts a %s init body', async (_kind, body) => {
    const seen = (await (
      await http1.fetch('https://www.youtube.com/api/stats', { method: 'POST', body })
    ).json()) as Seen;
    const expected =
      typeof body === 'string'
        ? body
        : body instanceof URLSearchParams
          ? body.toString()
          : body instanceof Blob
            ? await body.text()
            : new TextDecoder().decode(body);
    expect(seen.body).toBe(expected);
    expect(seen.method).toBe('POST');
  });

  it('accepts init headers as a Headers object and as an array of pairs', async () => {
    const a = (await (
      await http1.fetch('https://a.example/h', { headers: new Headers({ 'X-One': '1' }) })
    ).json()) as Seen;
    expect(a.headers['x-one']).toBe('1');
    const b = (await (await http1.fetch('https://a.example/h', { headers: [['X-Two', '2']] })).json()) as Seen;
    expect(b.headers['x-two']).toBe('2');
  });

  it('follows redirects by default, each hop rewritten', async () => {
    echo.routes.set('/youtu.be/dQw4w9WgXcQ', redirect(301, 'https://www.youtube.com/watch?v=dQw4w9WgXcQ'));
    const seen = (await (await http1.fetch('https://youtu.be/dQw4w9WgXcQ')).json()) as Seen;
    expect(seen.url).toBe('/www.youtube.com/watch?v=dQw4w9WgXcQ');
    expect(seen.headers['x-upstream-host']).toBe('www.youtube.com');
  });

  it("honours redirect: 'manual' from init and from a Request", async () => {
    echo.routes.set('/youtu.be/manual', redirect(301, 'https://www.youtube.com/watch?v=x'));
    const a = await http1.fetch('https://youtu.be/manual', { redirect: 'manual' });
    expect(a.status).toBe(301);
    expect(a.headers.get('location')).toBe('https://www.youtube.com/watch?v=x');
    await a.body?.cancel();
    const b = await http1.fetch(new Request('https://youtu.be/manual', { redirect: 'manual' }));
    expect(b.status).toBe(301);
    await b.body?.cancel();
    expect(echo.seen).toHaveLength(2);
  });

  it('honours an init signal', async () => {
    const ac = new AbortController();
    const p = http1.fetch(`${silentUrl}/hang`, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toBeInstanceOf(AppError);
  });
});

describe('errors', () => {
  it('a server that never answers is upstream_timeout (per-request timeout)', async () => {
    const started = Date.now();
    const err = await catchError(plain.request(`${silentUrl}/hang`, { timeoutMs: 300 }));
    expect(err.code).toBe('upstream_timeout');
    expect(err.statusCode).toBe(504);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a server that never answers is upstream_timeout (client timeout, through the rewrite)', async () => {
    const c = new HttpClient({ upstreamRewrite: silentUrl, timeoutMs: 300 });
    try {
      const err = await catchError(c.json('https://www.bilibili.com/slow'));
      expect(err.code).toBe('upstream_timeout');
      expect(err.details).toMatchObject({ host: 'www.bilibili.com' });
    } finally {
      await c.close();
    }
  });

  it('a body that stalls after the headers is upstream_timeout from json() and getText()', async () => {
    echo.routes.set('/stall.example/body', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
      // never ends
    });
    const err = await catchError(http1.json('https://stall.example/body', { timeoutMs: 300 }));
    expect(err.code).toBe('upstream_timeout');
    const err2 = await catchError(http1.getText('https://stall.example/body', { timeoutMs: 300 }));
    expect(err2.code).toBe('upstream_timeout');
  });

  it('a connection cut mid-body is upstream_error from json() and getText()', async () => {
    echo.routes.set('/cut.example/body', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"partial":', () => res.destroy());
    });
    expect((await catchError(http1.json('https://cut.example/body'))).code).toBe('upstream_error');
    expect((await catchError(http1.getText('https://cut.example/body'))).code).toBe('upstream_error');
  });

  it('a refused connection is upstream_error', async () => {
    const err = await catchError(plain.request(`${refusedUrl}/x`));
    expect(err.code).toBe('upstream_error');
    expect(err.statusCode).toBe(502);
    expect(err.details).toMatchObject({ cause: 'ECONNREFUSED' });
  });

  it('a refused connection to the rewrite target is upstream_error', async () => {
    const c = new HttpClient({ upstreamRewrite: refusedUrl });
    try {
      const err = await catchError(c.json('https://api.bilibili.com/x/web-interface/nav'));
      expect(err.code).toBe('upstream_error');
    } finally {
      await c.close();
    }
  });

  it('json() parses a 2xx JSON body', async () => {
    echo.routes.set('/api.example/ok', answer(200, '{"code":0,"data":{"title":"标题"}}'));
    expect(await http1.json('https://api.example/ok')).toEqual({ code: 0, data: { title: '标题' } });
  });

  it.each([
    [400, 'upstream_error'],
    [403, 'upstream_error'],
    [404, 'upstream_error'],
    [412, 'upstream_error'],
    [429, 'rate_limited'],
    [500, 'upstream_error'],
    [502, 'upstream_error'],
    [503, 'upstream_error'],
  ] as const)('json() on HTTP %i is %s, with the status and without the query in details', async (status, code) => {
    echo.routes.set('/api.example/fail', answer(status, '{"code":-1}'));
    const err = await catchError(http1.json('https://api.example/fail?access_key=SECRET'));
    expect(err.code).toBe(code);
    expect(err.details).toEqual({ url: 'https://api.example/fail', status });
    expect(JSON.stringify(err.details)).not.toContain('SECRET');
  });

  it.each(['', 'not json', '{"truncated":', '<html>captcha</html>'])(
    'json() on invalid JSON %j is upstream_error',
    async (text) => {
      echo.routes.set('/api.example/bad', answer(200, text, 'text/html'));
      const err = await catchError(http1.json('https://api.example/bad?token=SECRET'));
      expect(err.code).toBe('upstream_error');
      expect(err.message).toMatch(/invalid JSON/i);
      expect(err.details).toEqual({ url: 'https://api.example/bad' });
    },
  );

  it('getText() and request() return non-2xx answers without throwing', async () => {
    echo.routes.set('/api.example/missing', answer(404, 'gone', 'text/plain'));
    const t = await http1.getText('https://api.example/missing');
    expect(t.status).toBe(404);
    expect(t.text).toBe('gone');
    expect(t.headers.get('content-type')).toBe('text/plain');
    const r = await http1.request('https://api.example/missing');
    expect(r.status).toBe(404);
    await r.body?.cancel();
  });
});

describe('stream (the body as a Node stream, the same hops as request)', () => {
  it('goes through the rewrite with the default User-Agent and the caller headers; status, headers and body come back', async () => {
    const res = await http1.stream('https://cdn.example/media.mp4?sig=1', {
      headers: { Range: 'bytes=0-', Referer: 'https://www.example.com/' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.url).toBe('https://cdn.example/media.mp4?sig=1');
    expect(res.body).toBeInstanceOf(Readable);
    const seen = JSON.parse(await text(res.body)) as Seen;
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/cdn.example/media.mp4?sig=1');
    expect(seen.headers).toMatchObject({
      'x-upstream-host': 'cdn.example',
      'user-agent': DEFAULT_USER_AGENT,
      range: 'bytes=0-',
      referer: 'https://www.example.com/',
    });
  });

  it('streams a large body in pieces, byte for byte', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    big.write('first', 0);
    big.write('last', big.length - 4);
    echo.routes.set('/cdn.example/big', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(big.length) });
      res.end(big);
    });
    const res = await http1.stream('https://cdn.example/big', { highWaterMark: 64 * 1024 });
    let pieces = 0;
    const parts: Buffer[] = [];
    for await (const piece of res.body as AsyncIterable<Buffer>) {
      pieces++;
      parts.push(piece);
    }
    expect(Buffer.concat(parts).equals(big)).toBe(true);
    expect(pieces).toBeGreaterThan(1);
  });

  it('follows a redirect chain hop by hop, each hop rewritten; url is the last hop', async () => {
    echo.routes.set('/a.example/start', redirect(301, 'https://b.example/next?x=1'));
    echo.routes.set('/b.example/next', redirect(307, '/final'));
    const res = await http1.stream('https://a.example/start');
    expect(res.status).toBe(200);
    expect(res.url).toBe('https://b.example/final');
    expect((JSON.parse(await text(res.body)) as Seen).url).toBe('/b.example/final');
    expect(echo.seen.map((s) => [s.method, s.url, s.headers['x-upstream-host']])).toEqual([
      ['GET', '/a.example/start', 'a.example'],
      ['GET', '/b.example/next?x=1', 'b.example'],
      ['GET', '/b.example/final', 'b.example'],
    ]);
  });

  it.each(['http://127.0.0.1:9/x', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]/', 'http://localhost/'])(
    'refuses a redirect to the private address %s (no request is made)',
    async (target) => {
      echo.routes.set('/cdn.example/trap', redirect(302, target));
      await expect(http1.stream('https://cdn.example/trap')).rejects.toMatchObject({ code: 'invalid_url' });
      expect(echo.seen.map((s) => s.url)).toEqual(['/cdn.example/trap']);
    },
  );

  it('with guard: true refuses a private target before connecting, and a guarded hop to one', async () => {
    expect((await catchError(plain.stream(`${echo.url}/private`, { guard: true }))).code).toBe('invalid_url');
    expect((await catchError(plain.stream('ftp://8.8.8.8/x', { guard: true }))).code).toBe('invalid_url');
    echo.routes.set('/8.8.8.8/start', redirect(302, `${echo.url}/private`));
    expect((await catchError(http1.stream('https://8.8.8.8/start', { guard: true }))).code).toBe('invalid_url');
    expect(echo.seen.map((s) => s.url)).toEqual(['/8.8.8.8/start']);
  });

  it("with redirect: 'manual' returns the 3xx and its Location", async () => {
    echo.routes.set('/b23.tv/manual', redirect(302, 'https://www.bilibili.com/video/BV1'));
    const res = await http1.stream('https://b23.tv/manual', { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://www.bilibili.com/video/BV1');
    expect(await text(res.body)).toBe('redirect to https://www.bilibili.com/video/BV1');
    expect(echo.seen).toHaveLength(1);
  });

  it('adds the cookies picked for each hop: the redirect target gets its own, not the first host’s', async () => {
    echo.routes.set('/www.example.com/start', redirect(302, 'https://cdn.other.net/file'));
    const client = http1.withCookies((url) => (url.hostname === 'www.example.com' ? 'sid=s' : undefined));
    const res = await client.stream('https://www.example.com/start', { headers: { Cookie: 'own=1' } });
    await text(res.body);
    expect(echo.seen.map((s) => [s.url, s.headers.cookie])).toEqual([
      ['/www.example.com/start', 'own=1; sid=s'],
      ['/cdn.other.net/file', 'own=1'],
    ]);
  });

  it('maps failures as request does: refused is upstream_error, silence is upstream_timeout, abort rejects', async () => {
    const refused = await catchError(plain.stream(`${refusedUrl}/x`));
    expect(refused.code).toBe('upstream_error');
    expect(refused.details).toMatchObject({ cause: 'ECONNREFUSED' });
    expect((await catchError(plain.stream(`${silentUrl}/hang`, { timeoutMs: 300 }))).code).toBe('upstream_timeout');
    const ac = new AbortController();
    const p = plain.stream(`${silentUrl}/hang`, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('cancelled by the test')), 50);
    await expect(p).rejects.toThrow();
  });

  it('a connection cut mid-body errors the body stream, after the bytes that did arrive', async () => {
    echo.routes.set('/cut.example/body', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000' });
      res.write('0123456789', () => setTimeout(() => res.destroy(), 20));
    });
    const res = await http1.stream('https://cut.example/body');
    const got: Buffer[] = [];
    const err = await new Promise<unknown>((resolve) => {
      res.body.on('data', (d: Buffer) => got.push(d));
      res.body.on('error', resolve);
      res.body.on('end', () => resolve(null));
    });
    expect(err).toBeInstanceOf(Error);
    expect(Buffer.concat(got).toString()).toBe('0123456789');
  });
});
