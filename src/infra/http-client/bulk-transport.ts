/**
 * A lean HTTP/1.1 GET for bulk response bodies (media downloads), beside undici.
 *
 * Why a second transport: undici reads every socket chunk into a fresh 64 KiB
 * buffer and copies it into its WASM parser; on the download benchmark (200 MiB
 * over loopback) that receive path alone cost ~250 ms of CPU, twice what curl
 * needs for the whole download, with writing. Here the socket reads with
 * `onread` straight into 512 KiB slabs we own (up to a slab's free space per
 * read, no allocation per read, no copy): ~30 ms for the same bytes. A region
 * of a slab that was read into is never read into again, so the body's chunks
 * are plain views that stay valid for as long as a consumer holds them.
 *
 * Framing is http-parser-js's (status, headers, Content-Length, chunked, body
 * until close); sockets are Node's net/tls, with the SSRF guard's lookup when
 * asked. Idle connections are kept per origin for a few seconds, so a chunked
 * download's ranged requests reuse them; a reused connection that turns out
 * closed before answering is retried once on a new one (GET is idempotent).
 * Redirects, rewriting, cookies and error mapping stay in HttpClient.
 */
import net from 'node:net';
import tls from 'node:tls';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { Readable } from 'node:stream';
import { HTTPParser } from 'http-parser-js';
import { AppError } from '../../errors/app-error.js';
import { SlabPool } from './slab-pool.js';

/** Slab size for a few transfers at once: bigger reads mean fewer callbacks (256 KiB measured ~25 % slower). */
const MAX_SLAB_BYTES = 512 * 1024;
const MIN_SLAB_BYTES = 128 * 1024;
/**
 * With many transfers at once, slabs shrink so that together they stay near this: a slab lives
 * until its last view is written, and 20 downloads on 512 KiB slabs held ~90 MiB of them.
 */
const SLAB_BUDGET_BYTES = 4 * 1024 * 1024;
/** A slab with less room than this is retired: smaller reads only add callbacks. */
const MIN_READ_BYTES = 64 * 1024;
const DEFAULT_KEEP_ALIVE_MS = 4_000;
const DEFAULT_MAX_IDLE_PER_ORIGIN = 8;

export type LookupFunction = NonNullable<net.TcpNetConnectOpts['lookup']>;

export interface BulkRequest {
  /** absolute http(s) URL to connect to (already rewritten) */
  url: string;
  /** lower-case names; Host, Connection and body framing headers are set here */
  headers: Record<string, string>;
  signal: AbortSignal;
  /** connect-time address check (the SSRF guard's lookup); connections made without one are never reused with one */
  lookup?: LookupFunction;
  /** bytes the body buffers before the socket is paused (default 128 KiB) */
  highWaterMark?: number;
}

export interface BulkResponse {
  status: number;
  headers: Headers;
  /** views into the connection's slabs; destroy it to abandon the transfer (the connection is closed then) */
  body: Readable;
  /**
   * Hands a chunk of `body` back once nothing refers to it any more (its bytes are written), so its
   * slab can be reused. Optional: chunks never handed back are left to the garbage collector.
   */
  recycle(chunk: Buffer): void;
}

export interface BulkAgentOptions {
  keepAliveMs?: number;
  maxIdlePerOrigin?: number;
  /** extra TLS options (a test's own CA) */
  tls?: tls.ConnectionOptions;
}

/** A reused connection closed before any byte of the answer: safe to send again on a new one. */
class StaleConnectionError extends Error {}

export class BulkAgent {
  private readonly idle = new Map<string, Connection[]>();
  /** exchanges in progress, which share the slab budget */
  private active = 0;
  readonly slabs = new SlabPool(SLAB_BUDGET_BYTES);
  private readonly keepAliveMs: number;
  private readonly maxIdle: number;
  private closed = false;

  constructor(private readonly options: BulkAgentOptions = {}) {
    this.keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
    this.maxIdle = options.maxIdlePerOrigin ?? DEFAULT_MAX_IDLE_PER_ORIGIN;
  }

  async get(req: BulkRequest): Promise<BulkResponse> {
    if (this.closed) throw new Error('BulkAgent is closed');
    req.signal.throwIfAborted();
    const url = new URL(req.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new TypeError(`Unsupported protocol ${url.protocol}`);
    const head = requestHead(url, req.headers); // validates before any connection is made
    const key = `${url.protocol}//${url.host}|${req.lookup ? 'guarded' : 'open'}`;
    for (let attempt = 0; ; attempt++) {
      const reused = attempt === 0 ? this.takeIdle(key) : undefined;
      const conn = reused ?? this.connect(url, key, req.lookup);
      try {
        return await conn.send(head, req, url.hostname);
      } catch (err) {
        if (err instanceof StaleConnectionError && reused && !req.signal.aborted) continue;
        throw err instanceof StaleConnectionError ? (err.cause ?? err) : err;
      }
    }
  }

  /** Closes idle connections; connections in use close when their transfer ends. */
  async close(): Promise<void> {
    this.closed = true;
    for (const list of this.idle.values()) for (const c of list) c.destroy();
    this.idle.clear();
  }

  private takeIdle(key: string): Connection | undefined {
    const list = this.idle.get(key);
    for (let c = list?.pop(); c; c = list?.pop()) {
      if (c.usable()) return c;
      c.destroy();
    }
    return undefined;
  }

  private connect(url: URL, key: string, lookup: LookupFunction | undefined): Connection {
    const secure = url.protocol === 'https:';
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = Number(url.port || (secure ? 443 : 80));
    return new Connection(this, key, (onread) => {
      const common = { host, port, onread, ...(lookup ? { lookup } : {}) };
      const socket = secure
        ? tls.connect({
            ...common,
            ...(net.isIP(host) ? {} : { servername: host }),
            ALPNProtocols: ['http/1.1'],
            ...this.options.tls,
          })
        : net.connect(common);
      socket.setNoDelay(true);
      return socket;
    });
  }

  /** Size of the next slab a connection allocates: the budget shared by the transfers in progress. */
  slabBytes(): number {
    const share = Math.floor(SLAB_BUDGET_BYTES / Math.max(1, this.active) / MIN_READ_BYTES) * MIN_READ_BYTES;
    return Math.min(MAX_SLAB_BYTES, Math.max(MIN_SLAB_BYTES, share));
  }

  /** Bookkeeping of exchanges in progress (Connection calls it). */
  busy(delta: 1 | -1): void {
    this.active += delta;
  }

  /** A connection whose response ended cleanly: kept for a while, or closed. */
  release(conn: Connection): void {
    if (this.closed) return conn.destroy();
    const list = this.idle.get(conn.key) ?? [];
    if (list.length >= this.maxIdle) return conn.destroy();
    list.push(conn);
    this.idle.set(conn.key, list);
    conn.idleFor(this.keepAliveMs, () => {
      const at = list.indexOf(conn);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0 && this.idle.get(conn.key) === list) this.idle.delete(conn.key);
    });
  }
}

/** The request head; header names and values are validated (no CR/LF injection from upstream-provided headers). */
function requestHead(url: URL, headers: Record<string, string>): string {
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    const k = name.toLowerCase();
    if (k === 'host' || k === 'connection' || k === 'content-length' || k === 'transfer-encoding' || k === 'keep-alive')
      continue;
    head += `${name}: ${value}\r\n`;
  }
  return `${head}connection: keep-alive\r\n\r\n`;
}

type OnRead = { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean };

/** One socket and, at most, the one exchange (request + response) in progress on it. */
class Connection {
  readonly socket: net.Socket;
  private slab: Buffer | null = null;
  private used = 0;
  private exchange: Exchange | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** while idle in the pool: takes it out of the pool */
  private onGone: (() => void) | null = null;
  private uses = 0;

  constructor(
    readonly agent: BulkAgent,
    readonly key: string,
    open: (onread: OnRead) => net.Socket,
  ) {
    this.socket = open({
      buffer: () => this.region(),
      callback: (n, buf) => this.onRead(n, buf as Buffer),
    });
    // Flowing, so EOF is seen as 'end' (the bytes themselves bypass the stream: onread).
    this.socket.resume();
    this.socket.on('error', (err) => this.exchange?.fail(err));
    this.socket.on('end', () => this.exchange?.eof());
    this.socket.on('close', () => {
      this.clearIdle();
      if (this.slab) this.agent.slabs.retire(this.slab);
      this.onGone?.();
      this.exchange?.fail(new Error('The connection closed'));
    });
  }

  usable(): boolean {
    return !this.socket.destroyed && !this.socket.readableEnded && this.exchange === null;
  }

  send(head: string, req: BulkRequest, host: string): Promise<BulkResponse> {
    this.clearIdle();
    this.onGone = null;
    this.socket.ref();
    const reused = this.uses++ > 0;
    const ex = new Exchange(this, req, host, reused);
    this.exchange = ex;
    this.agent.busy(1);
    this.socket.write(head, 'latin1');
    ex.start();
    return ex.head;
  }

  /** The exchange ended: keep the socket for another if it ended cleanly, else close it. */
  finished(ex: Exchange, reusable: boolean): void {
    if (this.exchange !== ex) return;
    this.exchange = null;
    this.agent.busy(-1);
    if (reusable && !this.socket.destroyed) this.agent.release(this);
    else this.destroy();
  }

  idleFor(ms: number, gone: () => void): void {
    this.socket.unref();
    this.onGone = gone;
    this.idleTimer = setTimeout(() => this.destroy(), ms).unref(); // 'close' calls gone
  }

  destroy(): void {
    this.clearIdle();
    this.socket.destroy();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  /** Where the next read goes: the rest of the slab, or a new slab when little is left. */
  private region(): Buffer {
    if (!this.slab || this.slab.length - this.used < MIN_READ_BYTES) {
      if (this.slab) this.agent.slabs.retire(this.slab);
      this.slab = this.agent.slabs.take(this.agent.slabBytes());
      this.used = 0;
    }
    return this.slab.subarray(this.used);
  }

  /** false pauses reading (the body is full); reading resumes when the body asks for more. */
  private onRead(n: number, buf: Buffer): boolean {
    this.used += n; // never read into again: views of it may be queued in a body
    const ex = this.exchange;
    if (!ex) {
      this.destroy(); // bytes on an idle connection: not HTTP we can trust
      return false;
    }
    return ex.feed(buf, n);
  }
}

/** One request and its response on a connection. */
class Exchange {
  readonly head: Promise<BulkResponse>;
  private resolveHead!: (r: BulkResponse) => void;
  private rejectHead!: (err: unknown) => void;
  private readonly parser = new HTTPParser(HTTPParser.RESPONSE);
  private body: Readable | null = null;
  private received = 0;
  private paused = false;
  private done = false;
  private interim = false;
  private keepAlive = false;

  constructor(
    private readonly conn: Connection,
    private readonly req: BulkRequest,
    private readonly host: string,
    private readonly reused: boolean,
  ) {
    this.head = new Promise((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    this.parser[HTTPParser.kOnHeadersComplete] = (info) => this.onHead(info);
    this.parser[HTTPParser.kOnBody] = (chunk) => this.onBody(chunk);
    this.parser[HTTPParser.kOnMessageComplete] = () => this.onComplete();
  }

  /** Called once the connection holds this exchange, so a failure can hand the connection back. */
  start(): void {
    if (this.req.signal.aborted) this.onAbort();
    else this.req.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  feed(buf: Buffer, n: number): boolean {
    if (this.done) return true;
    this.received += n;
    let parsed: number | Error;
    try {
      parsed = this.parser.execute(buf, 0, n);
    } catch (err) {
      parsed = err instanceof Error ? err : new Error(String(err)); // thrown by our own callbacks
    }
    // Once the message is complete, what the parser says of the rest is moot: http-parser-js then counts
    // the whole read against its next message's header limit (an Error for a long read).
    if (this.done) return true;
    if (parsed instanceof Error) {
      this.fail(protocolError(this.host, parsed.message));
      return false;
    }
    return !this.paused;
  }

  /** The server ended its side: the end of a body that runs until close, else a cut. */
  eof(): void {
    if (this.done) return;
    const err = this.parser.finish();
    if (err instanceof Error || !this.done) this.fail(new Error('The connection closed before the response ended'));
  }

  fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.cleanup();
    if (!this.body) {
      const stale = this.reused && this.received === 0 && !this.req.signal.aborted;
      this.rejectHead(stale ? new StaleConnectionError('stale connection', { cause: err }) : err);
    } else {
      this.body.destroy(this.req.signal.aborted ? abortError(this.req.signal) : networkError(this.host, err));
    }
    this.conn.finished(this, false);
  }

  private readonly onAbort = (): void => this.fail(abortError(this.req.signal));

  private onHead(info: { statusCode: number; headers: string[]; shouldKeepAlive: boolean; upgrade: boolean }): number {
    const status = info.statusCode;
    if (status >= 100 && status < 200) {
      if (status === 101 || info.upgrade) throw new Error('Unexpected protocol switch');
      this.interim = true;
      return 1; // no body; the real answer follows
    }
    const headers = new Headers();
    const raw = info.headers;
    for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
    const length = headers.get('content-length');
    if (length !== null && !/^\d+$/.test(length.trim())) throw new Error('Invalid Content-Length');
    const te = headers.get('transfer-encoding');
    if (te !== null && te.trim().toLowerCase() !== 'chunked') throw new Error(`Unsupported Transfer-Encoding: ${te}`);
    this.keepAlive = info.shouldKeepAlive;
    this.body = new Readable({
      highWaterMark: this.req.highWaterMark ?? 128 * 1024,
      read: () => {
        if (!this.paused) return;
        this.paused = false;
        this.conn.socket.resume();
      },
      destroy: (err, cb) => {
        // Abandoned before its end: the rest of the response would still come, so the connection goes.
        if (!this.done) {
          this.done = true;
          this.cleanup();
          this.conn.finished(this, false);
        }
        cb(err);
      },
    });
    // A cut before the consumer listens must not crash the process as an unhandled 'error': consumers
    // see it as their own 'error' event or, attaching later, as body.errored.
    this.body.on('error', noop);
    const slabs = this.conn.agent.slabs;
    this.resolveHead({ status, headers, body: this.body, recycle: (chunk) => slabs.recycle(chunk) });
    return status === 204 || status === 304 ? 1 : 0;
  }

  private onBody(chunk: Buffer): void {
    if (!this.body) return;
    this.conn.agent.slabs.lend(chunk);
    if (!this.body.push(chunk)) this.paused = true;
  }

  private onComplete(): void {
    if (this.interim) {
      this.interim = false;
      return;
    }
    if (this.done) return;
    this.done = true;
    this.cleanup();
    this.body?.push(null);
    // Bytes after the end of the message in the same read: the server is not speaking HTTP/1.1 as we asked.
    const p = this.parser as unknown as { offset: number; end: number };
    this.conn.finished(this, this.keepAlive && p.offset >= p.end);
  }

  private cleanup(): void {
    this.req.signal.removeEventListener('abort', this.onAbort);
  }
}

const noop = (): void => undefined;

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
}

/** Errors after the head arrived: upstream's fault, retryable, never mistaken for a local file error. */
function networkError(host: string, cause: unknown): AppError {
  if (cause instanceof AppError) return cause;
  return new AppError(
    'upstream_error',
    'The connection to upstream broke during the response',
    { host, reason: 'network' },
    { cause },
  );
}

function protocolError(host: string, detail: string): AppError {
  return new AppError('upstream_error', `Upstream sent an invalid HTTP response (${detail})`, {
    host,
    reason: 'network',
  });
}
