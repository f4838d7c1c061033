/**
 * HTTP hardening on the real server: security headers and the CSP (checked
 * in a real Chromium for /docs, cross-origin calls and framing), the CORS
 * allowlist and preflight, the 414 and 431 limits, client IPs behind trusted
 * and untrusted proxies, and HSTS only behind TLS.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type ConsoleMessage } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { startReplayServer, type ReplayServer } from '../support/replay-server.js';
import { EMBED_CSP } from '../../src/delivery/stream-proxy.js';

// Callbacks passed to page.evaluate run in Chromium; the project compiles without the DOM lib.
declare const document: {
  createElement(tag: 'iframe'): { name: string; src: string };
  body: { append(node: unknown): void };
};
declare function getComputedStyle(el: unknown): { backgroundColor: string; display: string };

const CLIP_SLUG = 'DeliciousDelightfulPicklesWOOP';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const EXPECTED_CSP =
  "default-src 'self';script-src 'self';style-src 'self' 'unsafe-inline';img-src 'self' data: blob: https:;" +
  "media-src 'self' blob:;font-src 'self' data:;connect-src 'self' ws: wss:;manifest-src 'self';worker-src 'self';" +
  "frame-ancestors 'none';object-src 'none';base-uri 'self';form-action 'self'";

/** A page on another origin (a browser client of the API): `localhost` is allowed by CORS_ORIGINS, `127.0.0.1` is not. */
let pages: http.Server;
let pagesPort: number;
const allowedOrigin = () => `http://localhost:${pagesPort}`;
const refusedOrigin = () => `http://127.0.0.1:${pagesPort}`;

let replay: ReplayServer;
let server: TestServer; // CORS on, no trusted proxy
let browser: Browser;

beforeAll(async () => {
  pages = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>client</title>');
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  pagesPort = (pages.address() as AddressInfo).port;
  replay = await startReplayServer();
  server = await startTestServer('embedded', {
    CORS_ORIGINS: `${allowedOrigin()}, https://app.example.test/`,
    YTBH_UPSTREAM_REWRITE: replay.url,
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await replay?.stop();
  await new Promise((r) => pages?.close(r));
});

const cspErrors = (messages: ConsoleMessage[]) =>
  messages.map((m) => m.text()).filter((t) => /Content Security Policy|Refused to/i.test(t));

describe('security headers', () => {
  it('every API response carries the CSP and helmet headers, no HSTS on plain http', async () => {
    const res = await server.fetch(`${server.url}/api/v2/system/info`);
    expect(res.status).toBe(200);
    const h = res.headers;
    expect(h.get('content-security-policy')).toBe(EXPECTED_CSP);
    expect(h.get('content-security-policy')).not.toContain('upgrade-insecure-requests');
    expect(h.get('x-content-type-options')).toBe('nosniff');
    expect(h.get('x-frame-options')).toBe('DENY');
    expect(h.get('referrer-policy')).toBe('no-referrer');
    expect(h.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(h.get('cross-origin-resource-policy')).toBe('same-origin');
    expect(h.get('x-powered-by')).toBeNull();
    expect(h.get('strict-transport-security')).toBeNull();
    // An untrusted X-Forwarded-Proto does not make the request https.
    const spoofed = await fetch(`${server.url}/api/v2/system/health`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(spoofed.headers.get('strict-transport-security')).toBeNull();
    // Errors too.
    const missing = await fetch(`${server.url}/api/v2/nothing-here`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-security-policy')).toBe(EXPECTED_CSP);
  });

  it('media routes other sites load (<video src>) are cross-origin readable', async () => {
    const res = await server.fetch(`${server.url}/api/v2/downloads/00000000-0000-4000-8000-000000000000/file`);
    expect(res.status).toBe(404);
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
  });

  it('/docs runs Swagger UI under the same CSP without a single violation', async () => {
    const res = await fetch(`${server.url}/docs`);
    expect(res.headers.get('content-security-policy')).toBe(EXPECTED_CSP);
    const html = await res.text();
    // No inline script for the CSP to block: every <script> has a same-origin src.
    const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const attrs of scripts) expect(attrs).toMatch(/src="(\.\/|\/docs\/)/);

    const page = await browser.newPage();
    const messages: ConsoleMessage[] = [];
    const errors: Error[] = [];
    page.on('console', (m) => messages.push(m));
    page.on('pageerror', (e) => errors.push(e));
    try {
      await page.goto(`${server.url}/docs`);
      await page.waitForSelector('.opblock', { timeout: 30_000 });
      expect(await page.locator('.opblock').count()).toBeGreaterThan(10);
      expect(cspErrors(messages)).toEqual([]);
      expect(errors).toEqual([]);

      // The policy is enforced, and a violation would have been seen: an injected inline script is refused.
      await page.addScriptTag({ content: 'window.__inline = true' }).catch(() => undefined);
      expect(await page.evaluate(() => (globalThis as { __inline?: boolean }).__inline)).toBeUndefined();
      await expect.poll(() => cspErrors(messages).length).toBeGreaterThan(0);
    } finally {
      await page.close();
    }
  });

  it('the stream embed page keeps its own strict CSP and may be framed by other sites; the API may not', async () => {
    const embed = `${server.url}/api/v2/stream/embed/twitch/${CLIP_SLUG}?quality=720&access_token=${server.owner.apiKey}`;
    const res = await fetch(embed);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(EMBED_CSP);
    expect(res.headers.get('x-frame-options')).toBeNull();
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin');

    const page = await browser.newPage();
    const messages: ConsoleMessage[] = [];
    page.on('console', (m) => messages.push(m));
    try {
      await page.goto(refusedOrigin()); // any other site
      await page.evaluate((src) => {
        const f = document.createElement('iframe');
        f.name = 'embed';
        f.src = src;
        document.body.append(f);
      }, embed);
      await expect.poll(async () => (await page.frame('embed')?.$('video')) != null, { timeout: 20_000 }).toBe(true);
      const frame = page.frame('embed')!;
      expect(await frame.title()).toBe('xqc makes the wrong choice');
      // The inline <style> is allowed by its hash: the page is styled.
      expect(await frame.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(0, 0, 0)');
      expect(await frame.$eval('video', (v) => getComputedStyle(v).display)).toBe('block');
      expect(cspErrors(messages)).toEqual([]);

      await page.evaluate((src) => {
        const f = document.createElement('iframe');
        f.name = 'docs';
        f.src = src;
        document.body.append(f);
      }, `${server.url}/docs`);
      await expect
        .poll(() => cspErrors(messages).some((t) => t.includes("frame-ancestors 'none'")), { timeout: 20_000 })
        .toBe(true);
      expect(
        await page
          .frame('docs')
          ?.$('#swagger-ui')
          .catch(() => null),
      ).toBeFalsy();
    } finally {
      await page.close();
    }
  });
});

describe('OpenAPI security', () => {
  it('declares bearer (JWT) and API-key schemes, and each operation says which it takes, from the access policy', async () => {
    const doc = (await (await fetch(`${server.url}/api/v2/openapi.json`)).json()) as {
      components: { securitySchemes: Record<string, Record<string, string>> };
      paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
    };
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
    const op = (path: string, method: string) => doc.paths[path]![method]!.security;
    expect(op('/api/v2/system/health', 'get')).toEqual([]);
    expect(op('/api/v2/auth/login', 'post')).toEqual([]);
    expect(op('/api/v2/users/me', 'get')).toEqual([{ bearerAuth: [] }, { apiKey: [] }]);
    expect(op('/api/v2/admin/users', 'get')).toEqual([{ bearerAuth: [] }, { apiKey: [] }]);
    // Session-only routes: an API key is refused, so it is not offered.
    expect(op('/api/v2/users/me/password', 'post')).toEqual([{ bearerAuth: [] }]);
    // Routes players and <video> load take the token in the query too.
    expect(op('/api/v2/downloads/{id}/file', 'get')).toContainEqual({ accessToken: [] });
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, o] of Object.entries(ops)) expect(o.security, `${method} ${path}`).toBeInstanceOf(Array);
    }
  });
});

describe('CORS', () => {
  const api = (path: string) => `${server.url}${path}`;

  it('answers an allowed origin, exposing the headers clients need', async () => {
    const res = await server.fetch(api('/api/v2/users/me'), { headers: { origin: 'https://app.example.test' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/Origin/i);
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/,\s*/);
    for (const name of [
      'location',
      'content-disposition',
      'content-range',
      'x-request-id',
      'ratelimit-limit',
      'ratelimit-remaining',
      'ratelimit-reset',
      'retry-after',
    ]) {
      expect(exposed).toContain(name);
    }
  });

  it('gives a refused origin no CORS headers at all', async () => {
    const res = await server.fetch(api('/api/v2/users/me'), { headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(200); // same-origin and non-browser callers are unaffected
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-expose-headers')).toBeNull();
  });

  it('answers a preflight for an allowed origin without credentials, and refuses others', async () => {
    const preflight = (origin: string) =>
      fetch(api('/api/v2/users/me/api-keys'), {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
    const ok = await preflight('https://app.example.test');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    expect(ok.headers.get('access-control-allow-methods')).toContain('DELETE');
    const allowed = (ok.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const name of ['authorization', 'content-type', 'x-api-key']) expect(allowed).toContain(name);
    expect(ok.headers.get('access-control-max-age')).toBe('600');

    const refused = await preflight('https://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('forbidden');

    const notPreflight = await fetch(api('/api/v2/users/me'), { method: 'OPTIONS' });
    expect(notPreflight.status).toBe(400);
    expect(((await notPreflight.json()) as { error: { code: string } }).error.code).toBe('bad_request');
  });

  it('in a browser: an allowed origin calls the API with an API key and reads exposed headers; a refused one cannot', async () => {
    const page = await browser.newPage();
    try {
      const call = (url: string, key: string) =>
        page.evaluate(
          async ([u, k]) => {
            try {
              const r = await fetch(u!, { headers: { 'X-API-Key': k! } });
              return {
                status: r.status,
                requestId: r.headers.get('x-request-id'),
                limit: r.headers.get('ratelimit-limit'),
              };
            } catch (e) {
              return { error: String(e) };
            }
          },
          [url, key],
        );
      await page.goto(allowedOrigin());
      const ok = await call(api('/api/v2/users/me'), server.owner.apiKey);
      expect(ok).toMatchObject({ status: 200, requestId: expect.any(String), limit: '600' });

      await page.goto(refusedOrigin());
      expect(await call(api('/api/v2/users/me'), server.owner.apiKey)).toMatchObject({
        error: expect.stringContaining('Failed to fetch'),
      });
    } finally {
      await page.close();
    }
  });
});

describe('request size limits', () => {
  it('a URL over 8 KiB → 414 uri_too_long with the JSON error body', async () => {
    const long = await fetch(`${server.url}/api/v2/videos/info?url=https://example.com/${'a'.repeat(8200)}`);
    expect(long.status).toBe(414);
    expect(long.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await long.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('uri_too_long');
    // Unrouted paths too, and before authentication.
    expect((await fetch(`${server.url}/api/v2/${'b'.repeat(9000)}`)).status).toBe(414);
    // Just under the limit is routed as usual.
    expect((await fetch(`${server.url}/api/v2/${'b'.repeat(8000)}`)).status).toBe(404);
  });

  it('headers over Node’s limit → 431 with the error body; the server keeps serving', async () => {
    const { port } = new URL(server.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1');
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (data += d));
      socket.on('error', () => resolve(data)); // the server may reset after answering
      socket.on('close', () => resolve(data));
      socket.setTimeout(10_000, () => {
        socket.destroy();
        reject(new Error(`no answer; got ${JSON.stringify(data)}`));
      });
      socket.write(`GET /api/v2/system/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 431 /);
    // Our error body, like every other refusal.
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: 'headers_too_large', message: 'Request headers too large' },
    });
    expect((await fetch(`${server.url}/api/v2/system/health`)).status).toBe(200);
  });
});

describe('without CORS_ORIGINS and TRUST_PROXY', () => {
  let plain: TestServer;

  beforeAll(async () => {
    plain = await startTestServer('embedded', { RATE_LIMIT_ANONYMOUS: '3' });
  });
  afterAll(async () => {
    await plain?.close();
  });

  it('there are no CORS headers and no preflight', async () => {
    const res = await plain.fetch(`${plain.url}/api/v2/users/me`, { headers: { origin: 'https://app.example.test' } });
    expect(res.status).toBe(200);
    expect([...res.headers.keys()].filter((k) => k.startsWith('access-control-'))).toEqual([]);
    const pre = await fetch(`${plain.url}/api/v2/users/me`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.test', 'access-control-request-method': 'GET' },
    });
    expect(pre.status).toBe(405);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('X-Forwarded-For cannot dodge the per-IP limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${plain.url}/api/v2/platforms`, { headers: { 'x-forwarded-for': `192.0.2.${i + 1}` } });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });
});

describe('behind a trusted proxy (TRUST_PROXY=127.0.0.1)', () => {
  it('X-Forwarded-For from a listed proxy names the client; only the hop the proxy added counts', async () => {
    const s = await startTestServer('embedded', { RATE_LIMIT_ANONYMOUS: '3', TRUST_PROXY: '127.0.0.1' });
    try {
      const get = (xff: string, extra: Record<string, string> = {}) =>
        fetch(`${s.url}/api/v2/platforms`, { headers: { 'x-forwarded-for': xff, ...extra } });
      // Five clients behind the proxy: each its own budget.
      for (let i = 0; i < 5; i++) expect((await get(`192.0.2.${i + 1}`)).status).toBe(200);
      // One client prepending made-up addresses: the proxy's hop (rightmost) is what counts.
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await get(`10.9.9.${i}, 192.0.2.200`)).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      // TLS ended at the proxy: HSTS is sent.
      const tls = await get('192.0.2.201', { 'x-forwarded-proto': 'https' });
      expect(tls.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
      expect((await get('192.0.2.202')).headers.get('strict-transport-security')).toBeNull();
    } finally {
      await s.close();
    }
  });
});
