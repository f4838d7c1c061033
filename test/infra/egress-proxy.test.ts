/**
 * The egress proxy the child tools connect through: guarded, it refuses every
 * private target (all of 127.0.0.0/8 and ::1 here, so nothing reaches the
 * servers); as a plain forwarder (allowPrivate, tests only) it relays http and
 * CONNECT tunnels byte for byte. Real yt-dlp and ffprobe run through both.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import { ffprobe } from '../../src/extract/ytdlp/probe.js';
import { runYtdlpJson } from '../../src/extract/ytdlp/run.js';
import { createYtdlpExtractor } from '../../src/extract/ytdlp/extractor.js';
import { downloadWithYtdlp } from '../../src/delivery/downloader/ytdlp-download.js';
import { startRemux } from '../../src/delivery/stream-proxy.js';
import type { Format } from '../../src/extract/model.js';
import type { ExtractContext } from '../../src/extract/extractor.js';
import { type EgressProxy, startEgressProxy } from '../../src/infra/http-client/egress-proxy.js';
import { makeHls, makeMedia, type MediaFile } from '../support/media.js';
import { type MediaServer, startMediaServer } from '../support/media-server.js';

const TLS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/tls');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let dir: string;
let media: MediaFile;
let mediaBytes: Buffer;
let server: MediaServer;
let secure: https.Server;
let secureUrl: string;
let guarded: EgressProxy;
let open: EgressProxy;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ytbh-egress-'));
  media = await makeMedia(dir, { durationS: 2, width: 160, height: 120, kind: 'muxed', container: 'mp4' });
  mediaBytes = await readFile(media.path);
  server = await startMediaServer(dir);
  secure = https.createServer(
    { key: await readFile(path.join(TLS_DIR, 'key.pem')), cert: await readFile(path.join(TLS_DIR, 'cert.pem')) },
    (req, res) => {
      res.setHeader('Content-Type', 'video/mp4');
      res.setHeader('Content-Length', mediaBytes.length);
      res.end(mediaBytes);
    },
  );
  await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', () => resolve()));
  secureUrl = `https://127.0.0.1:${(secure.address() as AddressInfo).port}`;
  guarded = await startEgressProxy();
  open = await startEgressProxy({ allowPrivate: true });
});

afterAll(async () => {
  await guarded?.close();
  await open?.close();
  await server?.stop();
  secure?.closeAllConnections();
  await new Promise<void>((resolve) => (secure ? secure.close(() => resolve()) : resolve()));
  await rm(dir, { recursive: true, force: true });
});

/** Sends raw bytes to the proxy and returns its answer's status line and the rest. */
function raw(proxy: EgressProxy, request: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(proxy.url);
    const s = net.connect(Number(port), '127.0.0.1', () => s.write(request));
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('error', reject);
    s.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
  });
}

/** A CONNECT tunnel through `proxy`; resolves with the connected socket. */
function tunnel(proxy: EgressProxy, target: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(proxy.url);
    const req = http.request({ host: '127.0.0.1', port, method: 'CONNECT', path: target });
    req.on('connect', (res, socket) => {
      if (res.statusCode === 200) resolve(socket);
      else reject(new Error(`CONNECT answered ${res.statusCode}`));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('egress proxy, guarded', () => {
  it('refuses private targets, by address or by name, for CONNECT and for plain http; nothing reaches them', async () => {
    const port = new URL(server.url).port;
    const before = server.log.length;
    const refusedBefore = guarded.refused;
    const answers = await Promise.all([
      raw(guarded, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`),
      raw(guarded, `CONNECT localhost:${port} HTTP/1.1\r\nHost: localhost:${port}\r\n\r\n`),
      raw(guarded, `CONNECT [::1]:${port} HTTP/1.1\r\nHost: [::1]:${port}\r\n\r\n`),
      raw(guarded, `CONNECT 169.254.169.254:80 HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n`),
      raw(guarded, `GET http://127.0.0.1:${port}/${media.name} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`),
      raw(guarded, `GET http://localhost:${port}/${media.name} HTTP/1.1\r\nHost: localhost\r\n\r\n`),
    ]);
    for (const a of answers) {
      expect(a.status).toBe(403);
      expect(a.text).toMatch(/private or reserved address/);
    }
    expect(guarded.refused - refusedBefore).toBe(answers.length);
    expect(server.log.length).toBe(before);
  });

  it('answers what is not a proxy request with 400', async () => {
    for (const request of [
      'GET /clip.mp4 HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n',
      'CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n',
      'CONNECT example.com:99999 HTTP/1.1\r\nHost: example.com\r\n\r\n',
    ]) {
      expect((await raw(guarded, request)).status).toBe(400);
    }
  });

  it('yt-dlp and ffprobe started with it cannot reach a private host', async () => {
    const url = `${server.url}/${media.name}`;
    const before = server.log.length;
    const refusedBefore = guarded.refused;
    const ytdlp = await runYtdlpJson(url, ['--no-playlist'], { timeoutMs: 60_000, proxy: guarded.url }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(ytdlp).toBeInstanceOf(AppError);
    const probe = await ffprobe(url, { timeoutMs: 20_000, proxy: guarded.url }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(probe).toBeInstanceOf(AppError);
    expect(guarded.refused - refusedBefore).toBeGreaterThanOrEqual(2);
    expect(server.log.length).toBe(before);
  });
});

describe('who goes through it', () => {
  it('a yt-dlp download with default settings goes through the shared guarded proxy: a private host is never reached', async () => {
    const before = server.log.length;
    const out = await mkdtemp(path.join(dir, 'dl-'));
    const err = await downloadWithYtdlp({
      pageUrl: `${server.url}/${media.name}`,
      formatId: 'best',
      dir: out,
      basename: 'part0',
      timeoutMs: 60_000,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).message).toMatch(/403/);
    expect(server.log.length).toBe(before);
  });

  it('the generic extractor hands its proxy to yt-dlp and ffprobe; the remux to ffmpeg', async () => {
    const extractor = createYtdlpExtractor({
      ytdlpPath: 'yt-dlp',
      timeoutMs: 60_000,
      allowPrivateAddresses: true,
      egressProxy: open.url,
    });
    const before = open.forwarded;
    const url = `${server.url}/${media.name}`;
    const info = await extractor.extract(extractor.match(new URL(url))!, {} as ExtractContext); // the engine uses neither http nor log
    expect(info.duration).toBeCloseTo(2, 0);
    // yt-dlp's request and ffprobe's (the generic extractor leaves the codecs blank) at least
    expect(open.forwarded - before).toBeGreaterThanOrEqual(2);

    const beforeRemux = open.forwarded;
    const ac = new AbortController();
    const { stream } = await startRemux({
      formats: [{ ...info.formats[0]!, url } as Format],
      guard: false,
      allowPrivateAddresses: true,
      egressProxy: open.url,
      signal: ac.signal,
      ioTimeoutMs: 20_000,
    });
    const parts: Buffer[] = [];
    for await (const c of stream) parts.push(c as Buffer);
    expect(Buffer.concat(parts).subarray(4, 8).toString()).toBe('ftyp');
    expect(open.forwarded).toBeGreaterThan(beforeRemux);

    // An HLS playlist: ffmpeg fetches the playlist and each segment, every one through the proxy.
    const hls = await makeHls(dir, { durationS: 3, width: 160, height: 120, segmentS: 1 });
    const beforeHls = open.forwarded;
    const remuxed = await startRemux({
      formats: [{ ...info.formats[0]!, url: `${server.url}/${hls.name}`, protocol: 'hls', acodec: null } as Format],
      guard: true,
      allowPrivateAddresses: true,
      egressProxy: open.url,
      signal: ac.signal,
      ioTimeoutMs: 20_000,
    });
    let size = 0;
    for await (const c of remuxed.stream) size += (c as Buffer).length;
    expect(size).toBeGreaterThan(1000);
    expect(open.forwarded - beforeHls).toBeGreaterThanOrEqual(4); // playlist + 3 segments
  });
});

describe('egress proxy, forwarding (allowPrivate, tests only)', () => {
  it('relays plain http byte for byte, without hop-by-hop headers', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const echo = http.createServer((req, res) => {
      seen.push(req.headers);
      res.setHeader('X-Upstream', 'yes');
      res.end(mediaBytes);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()));
    const port = (echo.address() as AddressInfo).port;
    try {
      const body = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; bytes: Buffer }>(
        (resolve, reject) => {
          const proxyPort = Number(new URL(open.url).port);
          const req = http.request({
            host: '127.0.0.1',
            port: proxyPort,
            path: `http://127.0.0.1:${port}/x?y=1`,
            headers: { host: `127.0.0.1:${port}`, 'proxy-connection': 'keep-alive', 'x-mine': '1' },
          });
          req.on('response', (res) => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () =>
              resolve({ status: res.statusCode!, headers: res.headers, bytes: Buffer.concat(parts) }),
            );
          });
          req.on('error', reject);
          req.end();
        },
      );
      expect(body.status).toBe(200);
      expect(body.headers['x-upstream']).toBe('yes');
      expect(sha(body.bytes)).toBe(sha(mediaBytes));
      expect(seen[0]?.['x-mine']).toBe('1');
      expect(seen[0]?.['proxy-connection']).toBeUndefined();
    } finally {
      echo.closeAllConnections();
      await new Promise<void>((resolve) => echo.close(() => resolve()));
    }
  });

  it('tunnels TLS through CONNECT', async () => {
    const socket = await tunnel(open, new URL(secureUrl).host);
    const ca = await readFile(path.join(TLS_DIR, 'cert.pem'));
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      const t = tls.connect({ socket, ca, servername: 'localhost' }, () =>
        t.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
      );
      const parts: Buffer[] = [];
      t.on('data', (c: Buffer) => parts.push(c));
      t.on('end', () => resolve(Buffer.concat(parts)));
      t.on('error', reject);
    });
    const sep = bytes.indexOf('\r\n\r\n');
    expect(bytes.subarray(0, 12).toString()).toBe('HTTP/1.1 200');
    expect(sha(bytes.subarray(sep + 4))).toBe(sha(mediaBytes));
  });

  it('yt-dlp and ffprobe (http and https) really connect through it', async () => {
    const before = open.forwarded;
    const json = await runYtdlpJson(`${server.url}/${media.name}`, ['--no-playlist'], {
      timeoutMs: 60_000,
      proxy: open.url,
    });
    expect(json.ext).toBe('mp4');
    const afterHttp = open.forwarded;
    expect(afterHttp).toBeGreaterThan(before);
    // https: yt-dlp opens a CONNECT tunnel (the test certificate is self-signed, hence no check).
    const overTls = await runYtdlpJson(`${secureUrl}/${media.name}`, ['--no-playlist', '--no-check-certificates'], {
      timeoutMs: 60_000,
      proxy: open.url,
    });
    expect(overTls.ext).toBe('mp4');
    const afterYtdlp = open.forwarded;
    expect(afterYtdlp).toBeGreaterThan(afterHttp);
    const plain = await ffprobe(`${server.url}/${media.name}`, { timeoutMs: 20_000, proxy: open.url });
    expect(plain.duration).toBeCloseTo(2, 0);
    const afterPlain = open.forwarded;
    expect(afterPlain).toBeGreaterThan(afterYtdlp);
    // https: ffmpeg opens a CONNECT tunnel to the proxy (its httpproxy protocol, allowed for this case only).
    const viaTls = await ffprobe(`${secureUrl}/${media.name}`, { timeoutMs: 20_000, proxy: open.url });
    expect(viaTls.video?.codec).toBe('h264');
    expect(open.forwarded).toBeGreaterThan(afterPlain);
  });
});
