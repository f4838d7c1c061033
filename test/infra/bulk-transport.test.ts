/**
 * BulkAgent (the media bodies' HTTP/1.1 transport) against real servers on
 * 127.0.0.1: node:http and node:https for well-formed answers, a raw TCP
 * server for answers node:http would never send (bodies until close, interim
 * responses, broken framing, a keep-alive connection dropped on its next use).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import { BulkAgent } from '../../src/infra/http-client/bulk-transport.js';
import { guardedLookup } from '../../src/infra/http-client/ssrf-guard.js';

const TLS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/tls');
const MiB = 1024 * 1024;
const data = randomBytes(3 * MiB);
const big = randomBytes(24 * MiB);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Served {
  url: string;
  /** TCP connections accepted */
  connections: () => number;
  /** connections still open on the server's side */
  open: () => number;
  close(): Promise<void>;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function serve(server: net.Server, scheme: 'http' | 'https' = 'http'): Promise<Served> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  server.on(scheme === 'https' ? 'secureConnection' : 'connection', (s: net.Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    connections: () => connections,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Well-formed answers from node:http. */
function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const u = new URL(req.url ?? '/', 'http://x');
  if (u.pathname === '/sized') {
    res.setHeader('Content-Length', data.length);
    res.setHeader('X-Echo-Range', req.headers.range ?? '');
    res.setHeader('X-Twice', ['a', 'b']);
    for (let i = 0; i < data.length; i += 64 * 1024) res.write(data.subarray(i, i + 64 * 1024));
    res.end();
  } else if (u.pathname === '/big') {
    res.setHeader('Content-Length', big.length);
    res.end(big);
  } else if (u.pathname === '/chunked') {
    res.setHeader('Trailer', 'X-Sum');
    for (let i = 0; i < data.length; i += 100_000) res.write(data.subarray(i, i + 100_000));
    res.addTrailers({ 'X-Sum': sha(data) });
    res.end();
  } else if (u.pathname === '/cut') {
    res.setHeader('Content-Length', data.length);
    res.write(data.subarray(0, 300_000), () => setTimeout(() => res.destroy(), 50));
  } else if (u.pathname === '/trickle') {
    res.setHeader('Content-Length', data.length);
    res.write(data.subarray(0, 1000)); // then nothing
  } else if (u.pathname === '/hang') {
    // never answers
  } else if (u.pathname === '/empty') {
    res.statusCode = 204;
    res.end();
  } else {
    res.statusCode = 404;
    res.end('not found');
  }
}

async function readAll(body: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Reads until the body fails; returns what arrived and the error. */
async function readUntilError(body: Readable): Promise<{ got: number; err: unknown }> {
  let got = 0;
  try {
    for await (const c of body) got += (c as Buffer).length;
  } catch (err) {
    return { got, err };
  }
  return { got, err: null };
}

const signal = (): AbortSignal => new AbortController().signal;

let plain: Served;
let agent: BulkAgent;

beforeAll(async () => {
  plain = await serve(http.createServer({ keepAliveTimeout: 30_000 }, handler));
  agent = new BulkAgent();
});

afterAll(async () => {
  await agent.close();
  await plain.close();
});

describe('BulkAgent: framing', () => {
  it('reads a sized body byte-identical, with status, repeated headers and our request headers', async () => {
    const res = await agent.get({ url: `${plain.url}/sized`, headers: { range: 'bytes=0-' }, signal: signal() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(data.length));
    expect(res.headers.get('x-twice')).toBe('a, b');
    expect(res.headers.get('x-echo-range')).toBe('bytes=0-');
    expect(sha(await readAll(res.body))).toBe(sha(data));
  });

  it('reads a chunked body with trailers, then reuses the connection for the next request', async () => {
    const a = new BulkAgent();
    const served = await serve(http.createServer({ keepAliveTimeout: 30_000 }, handler));
    try {
      const first = await a.get({ url: `${served.url}/chunked`, headers: {}, signal: signal() });
      expect(first.headers.get('transfer-encoding')).toBe('chunked');
      expect(sha(await readAll(first.body))).toBe(sha(data));
      const second = await a.get({ url: `${served.url}/sized`, headers: {}, signal: signal() });
      expect(sha(await readAll(second.body))).toBe(sha(data));
      const third = await a.get({ url: `${served.url}/empty`, headers: {}, signal: signal() });
      expect(third.status).toBe(204);
      expect((await readAll(third.body)).length).toBe(0);
      expect(served.connections()).toBe(1);
    } finally {
      await a.close();
      await served.close();
    }
  });

  it('reads a body that runs until the server closes, and does not reuse that connection', async () => {
    const raw = await serve(
      net.createServer((s) =>
        s.once('data', () => {
          s.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
          s.end(data);
        }),
      ),
    );
    const a = new BulkAgent();
    try {
      for (let i = 0; i < 2; i++) {
        const res = await a.get({ url: `${raw.url}/x`, headers: {}, signal: signal() });
        expect(sha(await readAll(res.body))).toBe(sha(data));
      }
      expect(raw.connections()).toBe(2);
    } finally {
      await a.close();
      await raw.close();
    }
  });

  it('skips an interim 103 answer and delivers the final one', async () => {
    const raw = await serve(
      net.createServer((s) =>
        s.once('data', () =>
          s.write(
            'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
              'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nhello',
          ),
        ),
      ),
    );
    const a = new BulkAgent();
    try {
      const res = await a.get({ url: `${raw.url}/x`, headers: {}, signal: signal() });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-final')).toBe('yes');
      expect((await readAll(res.body)).toString()).toBe('hello');
    } finally {
      await a.close();
      await raw.close();
    }
  });

  it.each([
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello'],
    ['a Transfer-Encoding we did not ask for', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
    ['a status line that is not HTTP', 'SSH-2.0-OpenSSH_9.2\r\n\r\n'],
    ['a protocol switch', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n'],
  ])('answers %s with upstream_error, never a crash', async (_what, answer) => {
    const raw = await serve(net.createServer((s) => s.once('data', () => s.write(answer))));
    const a = new BulkAgent();
    try {
      const err = await a.get({ url: `${raw.url}/x`, headers: {}, signal: signal() }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('upstream_error');
      expect((err as AppError).message).toMatch(/invalid HTTP response/);
    } finally {
      await a.close();
      await raw.close();
    }
  });

  it('refuses header names and values that would inject lines, before connecting', async () => {
    const before = plain.connections();
    const cases: Record<string, string>[] = [
      { 'x-a': 'ok\r\nx-injected: 1' },
      { 'bad name': 'x' },
      { 'x-b': 'nul\u0000' },
    ];
    for (const headers of cases) {
      await expect(agent.get({ url: `${plain.url}/sized`, headers, signal: signal() })).rejects.toMatchObject({
        code: expect.stringMatching(/^ERR_INVALID_(CHAR|HTTP_TOKEN)$/) as unknown,
      });
    }
    expect(plain.connections()).toBe(before);
  });
});

describe('BulkAgent: failures and flow control', () => {
  it('a cut mid-body delivers the bytes before it, then fails with a retryable upstream_error', async () => {
    const res = await agent.get({ url: `${plain.url}/cut`, headers: {}, signal: signal() });
    const { got, err } = await readUntilError(res.body);
    expect(got).toBe(300_000);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).details).toMatchObject({ host: '127.0.0.1', reason: 'network' });
  });

  it('a keep-alive connection the server drops when it is used again is retried once on a new one', async () => {
    let requests = 0;
    const raw = await serve(
      net.createServer((s) => {
        let answered = 0;
        s.on('data', () => {
          requests++;
          // Each connection answers one request and keeps the connection "alive", then drops it on the next.
          if (answered++ === 0) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
          else s.destroy();
        });
      }),
    );
    const a = new BulkAgent();
    try {
      for (let i = 0; i < 3; i++) {
        const res = await a.get({ url: `${raw.url}/x`, headers: {}, signal: signal() });
        expect((await readAll(res.body)).toString()).toBe('hello');
      }
      // Requests 2 and 3 each met a dropped connection first: 5 requests over 3 connections.
      expect(raw.connections()).toBe(3);
      expect(requests).toBe(5);
    } finally {
      await a.close();
      await raw.close();
    }
  });

  it('an idle connection the server closed is not used again', async () => {
    const server = http.createServer(handler);
    server.keepAliveTimeout = 100;
    const served = await serve(server);
    const a = new BulkAgent({ keepAliveMs: 60_000 });
    try {
      await readAll((await a.get({ url: `${served.url}/sized`, headers: {}, signal: signal() })).body);
      // node:http closes idle connections on its own schedule (about a second here): wait until it has.
      for (const t0 = Date.now(); served.open() > 0 && Date.now() - t0 < 10_000;) await sleep(20);
      expect(served.open()).toBe(0);
      const res = await a.get({ url: `${served.url}/sized`, headers: {}, signal: signal() });
      expect(sha(await readAll(res.body))).toBe(sha(data));
      expect(served.connections()).toBe(2);
    } finally {
      await a.close();
      await served.close();
    }
  });

  it('a body nobody reads holds little: the socket pauses, the server cannot finish, and every byte arrives later', async () => {
    let finished = false;
    const served = await serve(
      http.createServer((req, res) => {
        res.on('finish', () => (finished = true));
        handler(req, res);
      }),
    );
    const a = new BulkAgent();
    try {
      const res = await a.get({ url: `${served.url}/big`, headers: {}, signal: signal(), highWaterMark: 128 * 1024 });
      await sleep(500);
      // One read's worth (at most a 512 KiB slab) past the high-water mark, not the 24 MiB on offer.
      expect(res.body.readableLength).toBeLessThanOrEqual(128 * 1024 + 512 * 1024);
      expect(finished).toBe(false);
      expect(sha(await readAll(res.body))).toBe(sha(big));
    } finally {
      await a.close();
      await served.close();
    }
  });

  it('an abort before the answer rejects with the reason; mid-body it fails the body with it', async () => {
    const before = new AbortController();
    const pending = agent.get({ url: `${plain.url}/hang`, headers: {}, signal: before.signal });
    await sleep(50);
    before.abort(new Error('stop before'));
    await expect(pending).rejects.toThrow('stop before');

    const during = new AbortController();
    const res = await agent.get({ url: `${plain.url}/trickle`, headers: {}, signal: during.signal });
    setTimeout(() => during.abort(new Error('stop during')), 50);
    const { got, err } = await readUntilError(res.body);
    expect(got).toBe(1000);
    expect((err as Error).message).toBe('stop during');
  });

  it('a body abandoned midway closes its connection; the next request opens a new one', async () => {
    const served = await serve(http.createServer(handler));
    const a = new BulkAgent();
    try {
      const res = await a.get({ url: `${served.url}/big`, headers: {}, signal: signal() });
      await new Promise<void>((resolve) => res.body.once('data', () => resolve()));
      res.body.destroy();
      const next = await a.get({ url: `${served.url}/sized`, headers: {}, signal: signal() });
      expect(sha(await readAll(next.body))).toBe(sha(data));
      expect(served.connections()).toBe(2);
    } finally {
      await a.close();
      await served.close();
    }
  });

  it("with the SSRF guard's lookup, a host name that resolves to a private address is refused at connect time", async () => {
    const before = plain.connections();
    const port = new URL(plain.url).port;
    await expect(
      agent.get({ url: `http://localhost:${port}/sized`, headers: {}, signal: signal(), lookup: guardedLookup }),
    ).rejects.toMatchObject({ code: 'ESSRF' });
    expect(plain.connections()).toBe(before);
    // Without it the same URL works (tests and allowPrivateAddresses).
    const res = await agent.get({ url: `http://localhost:${port}/sized`, headers: {}, signal: signal() });
    expect(sha(await readAll(res.body))).toBe(sha(data));
  });
});

describe('BulkAgent: slabs', () => {
  it('reuses a slab once every chunk cut from it is handed back, and never before', async () => {
    const a = new BulkAgent();
    try {
      // Handing each chunk back as soon as it is hashed: a few slabs serve all 24 MiB.
      const recycled = await a.get({ url: `${plain.url}/big`, headers: {}, signal: signal() });
      const hash = createHash('sha256');
      const seen = new Set<ArrayBufferLike>();
      for await (const c of recycled.body) {
        const chunk = c as Buffer;
        hash.update(chunk);
        seen.add(chunk.buffer);
        recycled.recycle(chunk);
        recycled.recycle(chunk); // twice: harmless
      }
      expect(hash.digest('hex')).toBe(sha(big));
      expect(seen.size).toBeLessThanOrEqual(4);

      // Holding every chunk: no slab may be reused under them, so the held bytes stay the file's.
      const held = await a.get({ url: `${plain.url}/big`, headers: {}, signal: signal() });
      const chunks: Buffer[] = [];
      for await (const c of held.body) chunks.push(c as Buffer);
      expect(sha(Buffer.concat(chunks))).toBe(sha(big));
      expect(new Set(chunks.map((c) => c.buffer)).size).toBeGreaterThan(24);

      // A buffer that was never lent (a copy) is ignored.
      const again = await a.get({ url: `${plain.url}/sized`, headers: {}, signal: signal() });
      const kept: Buffer[] = [];
      for await (const c of again.body) {
        again.recycle(Buffer.from(c as Buffer));
        kept.push(c as Buffer);
        await sleep(0);
      }
      expect(sha(Buffer.concat(kept))).toBe(sha(data));
    } finally {
      await a.close();
    }
  });
});

describe('BulkAgent: https', () => {
  it('downloads over TLS (a test CA) and reuses the TLS connection', async () => {
    const server = https.createServer(
      { key: readFileSync(path.join(TLS_DIR, 'key.pem')), cert: readFileSync(path.join(TLS_DIR, 'cert.pem')) },
      handler,
    );
    const served = await serve(server, 'https');
    const a = new BulkAgent({ tls: { ca: readFileSync(path.join(TLS_DIR, 'cert.pem')) } });
    const untrusting = new BulkAgent();
    try {
      for (const p of ['/sized', '/chunked']) {
        const res = await a.get({ url: `${served.url}${p}`, headers: {}, signal: signal() });
        expect(sha(await readAll(res.body))).toBe(sha(data));
      }
      expect(served.connections()).toBe(1);
      // Not trusted without the test CA.
      await expect(untrusting.get({ url: `${served.url}/sized`, headers: {}, signal: signal() })).rejects.toMatchObject(
        { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
      );
    } finally {
      await a.close();
      await untrusting.close();
      await served.close();
    }
  });
});
