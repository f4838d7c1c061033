import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer('embedded');
});
afterAll(async () => {
  await server.close();
});

async function send(path: string, init: RequestInit = {}) {
  const res = await server.fetch(server.url + path, init);
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return {
    status: res.status,
    headers: res.headers,
    body: body as { error: { code: string; message: string; details?: unknown } },
  };
}

function expectErrorBody(body: unknown, code: string) {
  expect(body).toMatchObject({ error: { code, message: expect.any(String) } });
  const text = JSON.stringify(body);
  expect(text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/); // never a stack trace
}

const json = { 'content-type': 'application/json' };

describe('one error body for every failure', () => {
  it('malformed JSON → 400 invalid_json', async () => {
    const r = await send('/api/v2/videos/info', { method: 'POST', headers: json, body: '{"url": "https://x' });
    expect(r.status).toBe(400);
    expectErrorBody(r.body, 'invalid_json');
  });

  it('empty JSON body → 400 invalid_json', async () => {
    const r = await send('/api/v2/videos/info', { method: 'POST', headers: json, body: '' });
    expect(r.status).toBe(400);
    expectErrorBody(r.body, 'invalid_json');
  });

  it('wrong content type → 415 unsupported_media_type', async () => {
    const r = await send('/api/v2/videos/info', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'url=https://x',
    });
    expect(r.status).toBe(415);
    expectErrorBody(r.body, 'unsupported_media_type');
  });

  it('body over the 1 MiB limit → 413 payload_too_large', async () => {
    const big = JSON.stringify({ url: 'https://example.com/' + 'a'.repeat(1024 * 1024) });
    const r = await send('/api/v2/videos/info', { method: 'POST', headers: json, body: big });
    expect(r.status).toBe(413);
    expectErrorBody(r.body, 'payload_too_large');
  });

  it.each([
    ['missing field', {}],
    ['wrong type', { url: 42 }],
    ['unknown property', { url: 'https://www.youtube.com/watch?v=7PIMiDcwNvc', admin: true }],
    ['empty string', { url: '' }],
  ])('schema violation (%s) → 400 validation_failed with details', async (_name, payload) => {
    const r = await send('/api/v2/videos/info', { method: 'POST', headers: json, body: JSON.stringify(payload) });
    expect(r.status).toBe(400);
    expectErrorBody(r.body, 'validation_failed');
    expect(r.body.error.details).toMatchObject({
      location: 'body',
      issues: [expect.objectContaining({ path: expect.any(String) })],
    });
  });

  it('query validation → 400 validation_failed', async () => {
    const r = await send('/api/v2/videos/info');
    expect(r.status).toBe(400);
    expectErrorBody(r.body, 'validation_failed');
    expect(r.body.error.details).toMatchObject({ location: 'querystring' });
  });

  it('unknown route → 404 not_found', async () => {
    const r = await send('/api/v2/nothing/here');
    expect(r.status).toBe(404);
    expectErrorBody(r.body, 'not_found');
  });

  it('wrong method on a known path → 405 with Allow', async () => {
    const r = await send('/api/v2/videos/info', { method: 'DELETE' });
    expect(r.status).toBe(405);
    expectErrorBody(r.body, 'method_not_allowed');
    expect(r.headers.get('allow')).toBe('GET, HEAD, POST');
    const p = await send('/api/v2/videos/youtube/abc', { method: 'PUT', headers: json, body: '{}' });
    expect(p.status).toBe(405);
  });

  it('a bad URL → 400 invalid_url', async () => {
    const r = await send('/api/v2/videos/info?url=' + encodeURIComponent('javascript:alert(1)'));
    expect(r.status).toBe(400);
    expectErrorBody(r.body, 'invalid_url');
  });

  it('keeps serving after all of the above', async () => {
    const r = await send('/api/v2/system/health');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ok' });
  });
});

describe('request ids', () => {
  it('echoes a valid X-Request-Id and generates one otherwise', async () => {
    const given = await server.fetch(server.url + '/api/v2/system/health', { headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers.get('x-request-id')).toBe('abc-123');
    const generated = await server.fetch(server.url + '/api/v2/system/health');
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await server.fetch(server.url + '/api/v2/system/health', {
      headers: { 'x-request-id': 'a b<script>' },
    });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('on error responses too', async () => {
    const r = await server.fetch(server.url + '/nope', { headers: { 'x-request-id': 'err-1' } });
    expect(r.status).toBe(404);
    expect(r.headers.get('x-request-id')).toBe('err-1');
  });
});
