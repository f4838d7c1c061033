import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startTestServer, type Backend, type TestServer } from '../support/server.js';

describe.each(['embedded', 'distributed'] as Backend[])('system endpoints (%s)', (backend) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(backend);
  });
  afterAll(async () => {
    await server.close();
  });

  it('health is cheap and ok', async () => {
    const res = await server.fetch(`${server.url}/api/v2/system/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', role: 'all', version: expect.any(String) });
  });

  it('ready checks the database and the cache', async () => {
    const res = await server.fetch(`${server.url}/api/v2/system/ready`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { database: 'ok', cache: 'ok' } });
  });

  it('info reports the active backends and tool versions', async () => {
    const res = await server.fetch(`${server.url}/api/v2/system/info`);
    const body = (await res.json()) as Record<string, any>;
    expect(body.backends).toEqual(
      backend === 'embedded' ? { database: 'pglite', cache: 'memory' } : { database: 'postgres', cache: 'redis' },
    );
    expect(body.role).toBe('all');
    expect(body.tools.ffmpeg).toMatch(/^\d|^n?\d/);
    expect(body.tools.ytdlp).toMatch(/^\d{4}\.\d{2}\.\d{2}/);
  });

  it('exposes the four seed metrics by name, plus request metrics by route', async () => {
    await server.fetch(`${server.url}/api/v2/system/health`);
    const text = await (await server.fetch(`${server.url}/metrics`)).text();
    for (const name of [
      'download_requests_total',
      'download_duration_seconds',
      'active_downloads_total',
      'storage_usage_bytes',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toMatch(/http_requests_total\{method="GET",route="\/api\/v2\/system\/health",status_code="200"\} \d+/);
    expect(text).toContain('process_cpu_seconds_total');
  });
});

describe('OpenAPI and docs', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server.close();
  });

  it('serves a valid OpenAPI 3 document listing every route', async () => {
    const doc = (await (await server.fetch(`${server.url}/api/v2/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);

    // Every public route the app registered is documented (hidden ones: openapi.json, /metrics, /docs assets).
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)),
    );
    const registered = server.app.routeTable
      .filter((r) => !r.hidden && r.method !== 'HEAD')
      .map((r) => `${r.method} ${r.url.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
    expect(registered.length).toBeGreaterThan(10);
    for (const route of registered) expect(documented, route).toContain(route);
    for (const expected of [
      'GET /api/v2/system/health',
      'GET /api/v2/system/ready',
      'GET /api/v2/system/info',
      'GET /api/v2/videos/info',
      'POST /api/v2/videos/info',
      'GET /api/v2/videos/formats',
      'GET /api/v2/videos/{platform}/{video_id}',
      'GET /api/v2/playlists/info',
      'GET /api/v2/playlists/{platform}/{playlist_id}',
      'GET /api/v2/platforms',
      'GET /api/info',
      'GET /api/formats',
      'GET /api/platforms',
    ]) {
      expect(documented).toContain(expected);
    }
  });

  it('documents the error body and codes', async () => {
    const doc = (await (await server.fetch(`${server.url}/api/v2/openapi.json`)).json()) as any;
    expect(doc.components.schemas.ErrorResponse).toBeDefined();
    expect(doc.info.description).toContain('`quota_exceeded` (429)');
    const info = doc.paths['/api/v2/videos/info'].get.responses;
    expect(info['404'].content['application/json'].schema.$ref).toBe('#/components/schemas/ErrorResponse');
  });

  it('renders interactive docs at /docs', async () => {
    const res = await server.fetch(`${server.url}/docs`, { redirect: 'follow' });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/swagger-ui/i);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const asset of assets) {
      const r = await fetch(new URL(asset, `${server.url}/docs/`));
      expect(r.status, asset).toBe(200);
      expect((await r.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
    }
    const initializer = await (
      await fetch(
        new URL(
          assets.find((a) => a.endsWith('swagger-initializer.js'))!,
          `${server.url}/docs/`,
        ),
      )
    ).text();
    const specUrl = /url: '([^']+)'/.exec(initializer)?.[1] ?? '/docs/json';
    const spec = (await (await fetch(new URL(specUrl, `${server.url}/docs/`))).json()) as { openapi: string };
    expect(spec.openapi).toMatch(/^3\./);
  });
});

describe('readiness names the failing component', () => {
  it('answers 503 when the database is gone, and health stays up', async () => {
    const server = await startTestServer('embedded');
    try {
      await server.services.database.close();
      const res = await server.fetch(`${server.url}/api/v2/system/ready`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as any;
      expect(body.error.code).toBe('not_ready');
      expect(body.error.details.failing).toEqual(['database']);
      expect(body.error.details.checks.cache).toBe('ok');
      expect((await server.fetch(`${server.url}/api/v2/system/health`)).status).toBe(200);
    } finally {
      await server.app.close();
      await server.services.cache.close();
    }
  });

  it('answers 503 naming the cache when Redis is unreachable', async () => {
    const server = await startTestServer('distributed');
    try {
      await server.services.cache.close();
      const res = await server.fetch(`${server.url}/api/v2/system/ready`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as any;
      expect(body.error.details.failing).toEqual(['cache']);
    } finally {
      await server.close();
    }
  });
});
