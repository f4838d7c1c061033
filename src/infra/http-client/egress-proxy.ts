/**
 * A forward proxy on 127.0.0.1 for the child tools that fetch user-derived
 * URLs themselves (yt-dlp, ffprobe, ffmpeg): every connection they make, to
 * the first URL and to wherever a redirect or a manifest leads, is checked
 * against the SSRF guard at connect time (the guard's lookup, so DNS rebinding
 * between a check and the connect cannot slip through). Without it, the
 * guard could only check the URL before the tool started.
 *
 * CONNECT tunnels (https) and absolute-form requests (plain http) are served;
 * anything else is 400. A refused target is 403 with a reason line, and
 * nothing is sent to it. The proxy reaches only public addresses, so it needs
 * no credentials: a local process using it gains nothing it does not have.
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { guardedLookup, isPrivateAddress } from './ssrf-guard.js';

export interface EgressProxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** connections refused because the target is private (for logs and tests) */
  readonly refused: number;
  /** connections and requests let through */
  readonly forwarded: number;
  close(): Promise<void>;
}

export interface EgressProxyOptions {
  /** let private targets through too (tests only: it makes the proxy a plain forwarder) */
  allowPrivate?: boolean;
  /** connect timeout and idle timeout of both sides (default 30 s) */
  timeoutMs?: number;
  onRefused?: (host: string) => void;
}

/** Headers that belong to one hop (RFC 9110 §7.6.1) and the proxy's own. */
const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

class Refused extends Error {}

export async function startEgressProxy(opts: EgressProxyOptions = {}): Promise<EgressProxy> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let refused = 0;
  let forwarded = 0;
  const sockets = new Set<Duplex>();
  const track = (s: Duplex): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };

  /** Connects to host:port through the guard; rejects with Refused for a private target. */
  const connect = (host: string, port: number): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const bare = host.startsWith('[') ? host.slice(1, -1) : host;
      if (!opts.allowPrivate && net.isIP(bare) && isPrivateAddress(bare)) return reject(new Refused(bare));
      const socket = net.connect({
        host: bare,
        port,
        ...(opts.allowPrivate ? {} : { lookup: guardedLookup }),
        timeout: timeoutMs,
      });
      track(socket);
      const fail = (err: NodeJS.ErrnoException): void => {
        socket.destroy();
        reject(err.code === 'ESSRF' ? new Refused(bare) : err);
      };
      socket.once('error', fail);
      socket.once('timeout', () => fail(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })));
      socket.once('connect', () => {
        socket.off('error', fail);
        socket.removeAllListeners('timeout');
        socket.on('timeout', () => socket.destroy());
        resolve(socket);
      });
    });

  const refuse = (host: string): void => {
    refused++;
    opts.onRefused?.(host);
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      let target: URL;
      try {
        target = new URL(req.url ?? '');
      } catch {
        return answer(res, 400, 'An absolute http:// URL is required (this is a forward proxy)');
      }
      if (target.protocol !== 'http:') return answer(res, 400, 'Only http:// URLs are forwarded; use CONNECT');
      let upstream: net.Socket;
      try {
        upstream = await connect(target.hostname, Number(target.port || 80));
      } catch (err) {
        if (err instanceof Refused) {
          refuse(err.message);
          return answer(res, 403, `Refused: ${err.message} is a private or reserved address`);
        }
        return answer(res, 502, 'Could not reach the upstream host');
      }
      forwarded++;
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_HEADERS.has(k)) headers[k] = v;
      const out = http.request({
        createConnection: () => upstream,
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers,
      });
      out.on('response', (up) => {
        const back: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_HEADERS.has(k)) back[k] = v;
        res.writeHead(up.statusCode ?? 502, up.statusMessage, back);
        up.pipe(res);
        up.on('error', () => res.destroy());
      });
      out.on('error', () => (res.headersSent ? res.destroy() : answer(res, 502, 'The upstream request failed')));
      res.on('close', () => out.destroy());
      req.pipe(out);
    })();
  });

  server.on('connect', (req: http.IncomingMessage, client: Duplex, head: Buffer) => {
    client.on('error', () => client.destroy());
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(req.url ?? '');
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) return void client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    connect(m[1]!, port).then(
      (upstream) => {
        forwarded++;
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      },
      (err: unknown) => {
        if (err instanceof Refused) {
          refuse(err.message);
          client.end(`HTTP/1.1 403 Forbidden\r\n\r\nRefused: ${err.message} is a private or reserved address\r\n`);
        } else {
          client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
        }
      },
    );
  });
  server.on('connection', track);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref(); // a helper: never what keeps the process alive
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get refused() {
      return refused;
    },
    get forwarded() {
      return forwarded;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function answer(res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(`${text}\n`);
}

let shared: Promise<EgressProxy> | undefined;

/**
 * The proxy a child tool (yt-dlp, ffprobe, ffmpeg) connects through: `explicit` when given (tests),
 * none where private addresses are allowed anyway or the upstream rewrite is on (the tool may only
 * reach loopback then), else the process's guarded one.
 */
export async function egressProxyUrl(o: {
  explicit?: string | undefined;
  allowPrivate: boolean;
  rewrite?: boolean;
}): Promise<string | undefined> {
  if (o.explicit) return o.explicit;
  if (o.allowPrivate || o.rewrite) return undefined;
  return (await sharedEgressProxy()).url;
}

/**
 * ffmpeg/ffprobe's `-protocol_whitelist` for network inputs: http(s) only (crypto decrypts AES-128 HLS
 * segments another allowed protocol fetched), plus, through a proxy, the CONNECT tunnel ffmpeg opens
 * for https (its httpproxy protocol). Never file:, concat: or pipe:, whatever a playlist names.
 */
export function ffmpegNetworkProtocols(proxied: boolean): string {
  return proxied ? 'http,https,tcp,tls,crypto,httpproxy' : 'http,https,tcp,tls,crypto';
}

/** The process's guarded proxy for child tools, started on first use and kept for the process's life. */
export function sharedEgressProxy(): Promise<EgressProxy> {
  shared ??= startEgressProxy().catch((err: unknown) => {
    shared = undefined;
    throw err;
  });
  return shared;
}

/**
 * Environment for a child tool that must go through `proxyUrl`: both spellings of the proxy
 * variables (curl-style tools, ffmpeg, Python), and no bypass list.
 */
export function proxyEnv(proxyUrl: string): Record<string, string> {
  return {
    http_proxy: proxyUrl,
    https_proxy: proxyUrl,
    HTTP_PROXY: proxyUrl,
    HTTPS_PROXY: proxyUrl,
    no_proxy: '',
    NO_PROXY: '',
  };
}
