/**
 * How the server hands out the dashboard: index.html for the SPA's pages,
 * hashed assets cached for a year, the manifest and service worker always
 * revalidated, the API's 404/405 answers untouched, and a short page when
 * the web was never built.
 */
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWeb, SPA_ROUTES } from '../../src/http/plugins/web.js';
import { ROOT, startTestServer, type TestServer } from '../support/server.js';
import { ensureWebBuilt } from './support/build.js';

let server: TestServer;

beforeAll(async () => {
  await ensureWebBuilt();
  server = await startTestServer('embedded');
}, 180_000);
afterAll(async () => {
  await server?.close();
});

/** A request with the path exactly as given (fetch would normalise `..`). */
function rawGet(url: string, rawPath: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    http
      .get({ hostname, port, path: rawPath }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('serving the web dashboard', () => {
  it('answers every page of the app with index.html, revalidated, with no inline script', async () => {
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    expect(html).toContain('<div id="root"></div>');
    expect(html).toContain('<link rel="manifest" href="/manifest.webmanifest"');
    // script-src 'self': every script is a file.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\bsrc="\/assets\/[\w.-]+\.js"/);
      expect(body!.trim()).toBe('');
    }
    for (const page of SPA_ROUTES) {
      const res = await fetch(`${server.url}${page}?url=https%3A%2F%2Fexample.com%2Fv`);
      expect(res.status, page).toBe(200);
      expect(await res.text(), page).toBe(html);
    }
  });

  it("serves exactly the pages the app's router knows", () => {
    const router = readFileSync(path.join(ROOT, 'web/src/app/router.tsx'), 'utf8');
    const pages = /export const PAGES = \[([^\]]+)\]/
      .exec(router)![1]!
      .match(/'[^']*'/g)!
      .map((p) => p.slice(1, -1));
    expect([...pages].sort()).toEqual([...SPA_ROUTES].sort());
  });

  it('caches hashed assets for a year and serves them with their type', async () => {
    const html = await (await fetch(`${server.url}/`)).text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    for (const a of assets) {
      const res = await fetch(`${server.url}${a}`);
      expect(res.status, a).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type')).toMatch(a.endsWith('.js') ? /javascript/ : /text\/css/);
      const head = await fetch(`${server.url}${a}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
    }
    const missing = await fetch(`${server.url}/assets/index-nothere.js`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found');
    // No way out of the build directory.
    for (const p of [
      '/assets/..%2Fpackage.json',
      '/assets/%2e%2e%2f%2e%2e%2fpackage.json',
      '/icons/..%2F..%2Fpackage.json',
    ]) {
      const res = await rawGet(server.url, p);
      expect(res.status, p).toBe(404);
      expect(res.body).not.toContain('"name": "ytbh"');
    }
  });

  it('serves the manifest, the service worker and the icons, always revalidating the first two', async () => {
    const manifest = await fetch(`${server.url}/manifest.webmanifest`);
    expect(manifest.headers.get('content-type')).toMatch(/^application\/manifest\+json/);
    expect(manifest.headers.get('cache-control')).toBe('no-cache');
    const m = (await manifest.json()) as { icons: { src: string; type: string }[]; share_target: { action: string } };
    expect(m.share_target.action).toBe('/');
    for (const icon of m.icons) {
      const res = await fetch(`${server.url}${icon.src}`);
      expect(res.status, icon.src).toBe(200);
      expect(res.headers.get('content-type')).toBe(icon.type);
    }

    const sw = await fetch(`${server.url}/sw.js`);
    expect(sw.headers.get('cache-control')).toBe('no-cache');
    expect(sw.headers.get('content-type')).toMatch(/javascript/);
    const code = await sw.text();
    // The worker precaches exactly this build's files.
    const html = await (await fetch(`${server.url}/`)).text();
    for (const a of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) expect(code).toContain(`"${a[1]}"`);
  });

  it("leaves the API's own 404 and 405 answers alone", async () => {
    const unknown = await fetch(`${server.url}/api/v2/nothing-here`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const post = await fetch(`${server.url}/api/v2/nothing-here`, { method: 'POST' });
    expect(post.status).toBe(404);
    const otherPage = await fetch(`${server.url}/not-a-page`);
    expect(otherPage.status).toBe(404);
    const wrongMethod = await fetch(`${server.url}/library`, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toContain('GET');
    const docs = await fetch(`${server.url}/docs`, { redirect: 'manual' });
    expect([200, 302]).toContain(docs.status);
  });

  it('answers with a short page, not a crash, when the web was never built', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'ytbh-no-web-'));
    const app = Fastify();
    try {
      await registerWeb(app, server.services, empty);
      for (const url of ['/', '/queue', '/assets/index-abc.js', '/sw.js']) {
        const res = await app.inject({ method: 'GET', url });
        expect(res.statusCode, url).toBe(404);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.body).toContain('has not been built');
        expect(res.body).toContain('npm run build');
      }
    } finally {
      await app.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
