import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMedia } from '../../support/media.js';
import { type MediaServer, pageTitle, parseRange, startMediaServer } from '../../support/media-server.js';

let dir: string;
let server: MediaServer;
const blob = randomBytes(64 * 1024);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ytbh-media-server-'));
  await writeFile(path.join(dir, 'blob.bin'), blob);
  await makeMedia(dir, { durationS: 1, width: 160, height: 120, kind: 'muxed', container: 'mp4' });
  server = await startMediaServer(dir, {
    paths: {
      '/drop-once.bin': { dropAfterBytes: 1000 },
      '/drop-always.bin': { dropAfterBytes: 1000, dropMode: 'always' },
      '/fail.bin': { failFirst: 2 },
      '/lying.bin': { wrongContentLength: true },
      '/slow.bin': { throttleBytesPerSec: 64 * 1024 },
      '/late.bin': { delayMs: 300 },
    },
  });
  for (const name of ['drop-once', 'drop-always', 'fail', 'lying', 'slow', 'late']) {
    await writeFile(path.join(dir, `${name}.bin`), blob);
  }
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const get = (p: string, headers: Record<string, string> = {}, method = 'GET') =>
  fetch(`${server.url}${p}`, { method, headers });

describe('media server', () => {
  it('serves files with type, length and range support', async () => {
    const res = await get('/muxed-1s-160x120.mp4');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    const body = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(body.length);
    expect(body.subarray(4, 8).toString()).toBe('ftyp');
  });

  it('answers ranges with 206 and impossible ones with 416', async () => {
    const mid = await get('/blob.bin', { Range: 'bytes=100-199' });
    expect(mid.status).toBe(206);
    expect(mid.headers.get('content-range')).toBe(`bytes 100-199/${blob.length}`);
    expect(Buffer.from(await mid.arrayBuffer())).toEqual(blob.subarray(100, 200));

    const tail = await get('/blob.bin', { Range: 'bytes=-10' });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(blob.subarray(-10));

    const open = await get('/blob.bin', { Range: `bytes=${blob.length - 5}-` });
    expect(Buffer.from(await open.arrayBuffer())).toEqual(blob.subarray(-5));

    const beyond = await get('/blob.bin', { Range: `bytes=${blob.length}-` });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${blob.length}`);
    await beyond.arrayBuffer();
  });

  it('parseRange ignores what it does not understand', () => {
    expect(parseRange(undefined, 10)).toBeNull();
    expect(parseRange('bytes=0-1,5-6', 10)).toBeNull();
    expect(parseRange('bytes=5-2', 10)).toBeNull();
    expect(parseRange('bytes=2-100', 10)).toEqual({ start: 2, end: 9 });
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
  });

  it('answers HEAD without a body, and 404 outside the directory', async () => {
    const head = await get('/blob.bin', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(blob.length));
    expect((await get('/nope.bin')).status).toBe(404);
    // %2f survives URL normalisation, so this really asks for ../../etc/passwd after decoding.
    expect((await get('/..%2f..%2f..%2fetc%2fpasswd')).status).toBe(404);
    expect(server.log.at(-1)?.path).toBe('/../../../etc/passwd');
  });

  it('serves og:video pages pointing at the media', async () => {
    const res = await get('/page/muxed-1s-160x120.html');
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain(`<meta property="og:video" content="${server.url}/muxed-1s-160x120.mp4">`);
    expect(html).toContain(`<meta property="og:title" content="${pageTitle('muxed-1s-160x120')}">`);
    expect(html).toContain('og:description');
  });

  it('drops the connection mid-body once, or always', async () => {
    await expect(get('/drop-once.bin').then((r) => r.arrayBuffer())).rejects.toThrow();
    expect((await (await get('/drop-once.bin')).arrayBuffer()).byteLength).toBe(blob.length);
    for (let i = 0; i < 2; i++) {
      await expect(get('/drop-always.bin').then((r) => r.arrayBuffer())).rejects.toThrow();
    }
    expect(server.requests.get('/drop-always.bin')).toBe(2);
  });

  it('fails the first N requests, and counts them', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const res = await get('/fail.bin');
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([403, 403, 200]);
    expect(server.requests.get('/fail.bin')).toBe(3);
    expect(server.log.filter((r) => r.path === '/fail.bin').map((r) => r.status)).toEqual([403, 403, 200]);
  });

  it('announces a wrong Content-Length and cuts the body short', async () => {
    const res = await get('/lying.bin');
    expect(Number(res.headers.get('content-length'))).toBeGreaterThan(blob.length);
    await expect(res.arrayBuffer()).rejects.toThrow();
  });

  it('throttles and delays', async () => {
    let started = Date.now();
    const body = await (await get('/slow.bin')).arrayBuffer();
    expect(body.byteLength).toBe(blob.length);
    expect(Date.now() - started).toBeGreaterThanOrEqual(800); // 64 KiB at 64 KiB/s

    started = Date.now();
    await (await get('/late.bin', {}, 'HEAD')).arrayBuffer();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('changes behaviour at runtime', async () => {
    server.setBehavior('/blob.bin', { failFirst: 1, failStatus: 500 });
    expect((await get('/blob.bin', {}, 'HEAD')).status).toBe(500);
    expect((await get('/blob.bin', {}, 'HEAD')).status).toBe(200);
    server.setBehavior('/blob.bin', undefined);
  });
});
