/**
 * The one outbound HTTP client. Every platform request goes through it, so
 * upstream rewriting (tests, replay), SSRF guarding, timeouts and error
 * mapping live in one place.
 */
import type { Readable } from 'node:stream';
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from 'undici';
import { AppError } from '../../errors/app-error.js';
import { BulkAgent } from './bulk-transport.js';
import { rewriteUrl } from './upstream-rewrite.js';
import {
  assertNotPrivateLiteral,
  assertPublicUrl,
  guardedDispatcher,
  guardedLookup,
  parseUserUrl,
} from './ssrf-guard.js';

export const DEFAULT_USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

/** The Cookie header value a request to this URL may carry (undefined: none). */
export type CookieSource = (url: URL) => string | undefined;

export interface HttpClientOptions {
  /** YTBH_UPSTREAM_REWRITE */
  upstreamRewrite?: string | undefined;
  /** ALLOW_PRIVATE_ADDRESSES: lets guarded requests reach private hosts (tests). */
  allowPrivateAddresses?: boolean;
  timeoutMs?: number;
  maxRedirects?: number;
  /** Cookies to add, decided per hop from the URL before any rewrite (see withCookies). */
  cookies?: CookieSource;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array | null;
  /** Apply the SSRF guard (user-supplied URLs). */
  guard?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** 'follow' (default) re-applies rewrite and guard at every hop. */
  redirect?: 'follow' | 'manual';
}

export interface StreamOptions extends Omit<RequestOptions, 'method' | 'body'> {
  /** Bytes the body buffers before the socket is paused (default 128 KiB). */
  highWaterMark?: number;
}

/** Connection pools a client owns, or shares with the client it derives from. */
interface Pools {
  agent: Agent;
  bulk: BulkAgent;
}

/** stream()'s answer: status and headers as fetch has them, the body as a Node stream. */
export interface StreamResponse {
  status: number;
  headers: Headers;
  /**
   * Consume it to the end, or destroy it to abandon the transfer (the connection
   * is closed then, not reused). Listen for 'error' before destroying.
   */
  body: Readable;
  /** Hands a body chunk back once its bytes are no longer referenced (written), so its buffer is reused. */
  recycle(chunk: Buffer): void;
  /** the last hop's URL, before any rewrite */
  url: string;
}

/** One hop as the hop loop prepared it: `url` is rewritten, `target` is what it stands for. */
interface Hop {
  target: URL;
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | Uint8Array | null;
  signal: AbortSignal;
  /** connections must be checked at connect time (SSRF guard) */
  guarded: boolean;
}

/** What a hop answered: enough for the hop loop to follow a redirect or hand the response over. */
interface Sent<R> {
  response: R;
  status: number;
  location: string | null;
  /** drops the body of a redirect being followed */
  discard(): Promise<void>;
}

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export class HttpClient {
  readonly upstreamRewrite: string | undefined;
  private readonly allowPrivate: boolean;
  private readonly timeoutMs: number;
  private readonly maxRedirects: number;
  private readonly pools: Pools;
  private readonly ownsPools: boolean;
  private readonly cookies: CookieSource | undefined;

  /** `shared`: the connection pools of the client this one derives from (they stay that client's to close). */
  constructor(
    private readonly options: HttpClientOptions = {},
    shared?: Pools,
  ) {
    this.upstreamRewrite = options.upstreamRewrite || undefined;
    this.allowPrivate = options.allowPrivateAddresses ?? false;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRedirects = options.maxRedirects ?? 10;
    this.cookies = options.cookies;
    this.ownsPools = !shared;
    this.pools = shared ?? {
      agent: new Agent({ keepAliveTimeout: 10_000, connections: 64 }),
      bulk: new BulkAgent(),
    };
  }

  /**
   * The same client (settings and connection pool) adding the cookies
   * `source` picks for each hop's URL: a redirect to another host gets that
   * host's cookies, or none. A Cookie header the caller sets is kept and
   * the picked cookies are appended.
   */
  withCookies(source: CookieSource): HttpClient {
    return new HttpClient({ ...this.options, cookies: source }, this.pools);
  }

  /** Performs a request; redirects are followed hop by hop so each hop is rewritten and guarded. */
  request(target: string | URL, opts: RequestOptions = {}): Promise<Response> {
    return this.follow(target, opts, async (hop) => {
      const res = (await undiciFetch(hop.url, {
        method: hop.method,
        headers: hop.headers,
        body: hop.body as UndiciRequestInit['body'],
        redirect: 'manual',
        signal: hop.signal,
        dispatcher: hop.guarded ? guardedDispatcher() : this.pools.agent,
      })) as unknown as Response;
      return {
        response: res,
        status: res.status,
        location: res.headers.get('location'),
        discard: async () => void (await res.body?.cancel()),
      };
    });
  }

  /**
   * A GET whose body is a Node stream, for bulk transfers (media downloads):
   * it goes through BulkAgent (bulk-transport.ts), whose socket reads into
   * buffers it owns instead of undici's per-read buffers and WASM parser copy,
   * ~5× less CPU per byte received. Rewrite, guard (pre-flight and at connect
   * time), headers, cookies and redirects are exactly request()'s (the same hop loop).
   */
  stream(target: string | URL, opts: StreamOptions = {}): Promise<StreamResponse> {
    return this.follow(target, { ...opts, method: 'GET', body: null }, async (hop) => {
      const res = await this.pools.bulk.get({
        url: hop.url,
        headers: hop.headers,
        signal: hop.signal,
        ...(hop.guarded ? { lookup: guardedLookup } : {}),
        ...(opts.highWaterMark === undefined ? {} : { highWaterMark: opts.highWaterMark }),
      });
      return {
        response: {
          status: res.status,
          headers: res.headers,
          body: res.body,
          recycle: res.recycle,
          url: hop.target.href,
        },
        status: res.status,
        location: res.headers.get('location'),
        discard: async () => void res.body.destroy(),
      };
    });
  }

  /**
   * The hop loop behind request() and stream(): `send` performs one hop (never
   * following redirects itself); every hop is guarded, rewritten and given its
   * cookies here, and its failures mapped to AppError.
   */
  private async follow<R>(
    target: string | URL,
    opts: RequestOptions,
    send: (hop: Hop) => Promise<Sent<R>>,
  ): Promise<R> {
    // Shape checks (scheme, length, credentials, control characters) apply to every guarded hop;
    // only the address check is relaxed by allowPrivateAddresses.
    if (opts.guard === true) parseUserUrl(target.toString());
    let current = new URL(target.toString());
    let method = (opts.method ?? 'GET').toUpperCase();
    let body = opts.body ?? null;
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const guard = opts.guard === true && !this.allowPrivate;

    for (let hop = 0; ; hop++) {
      if (opts.guard === true && hop > 0) parseUserUrl(current.href);
      if (guard) await assertPublicUrl(current, false);
      // Platform requests start at known public hosts, but where a redirect leads is the upstream's choice:
      // later hops never reach private addresses either (checked again at connect time when not rewritten).
      const redirected = hop > 0 && !this.allowPrivate;
      if (redirected && !guard) assertNotPrivateLiteral(current);
      const { url, upstreamHost } = rewriteUrl(current, this.upstreamRewrite);
      const headers: Record<string, string> = { 'user-agent': DEFAULT_USER_AGENT, ...lower(opts.headers) };
      if (upstreamHost) headers['x-upstream-host'] = upstreamHost;
      const cookie = this.cookies?.(current);
      if (cookie) headers.cookie = headers.cookie ? `${headers.cookie}; ${cookie}` : cookie;
      const guarded = (guard || redirected) && !upstreamHost;
      let sent: Sent<R>;
      try {
        sent = await send({ target: current, url, method, headers, body, signal, guarded });
      } catch (err) {
        throw mapFetchError(err, current, timeout);
      }
      if (opts.redirect === 'manual' || !REDIRECT_STATUSES.has(sent.status) || !sent.location) return sent.response;
      await sent.discard();
      if (hop >= this.maxRedirects)
        throw new AppError('upstream_error', 'Too many redirects', { url: current.toString() });
      current = new URL(sent.location, current);
      if (sent.status === 303 || ((sent.status === 301 || sent.status === 302) && method === 'POST')) {
        method = 'GET';
        body = null;
      }
    }
  }

  async getText(
    url: string | URL,
    opts: RequestOptions = {},
  ): Promise<{ status: number; text: string; headers: Headers }> {
    const res = await this.request(url, opts);
    return { status: res.status, text: await readBody(res, url), headers: res.headers };
  }

  /** JSON request; non-2xx and unparsable bodies become upstream_error. */
  async json<T = unknown>(url: string | URL, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(url, opts);
    const text = await readBody(res, url);
    if (!res.ok) {
      throw new AppError(
        res.status === 429 ? 'rate_limited' : 'upstream_error',
        `Upstream answered HTTP ${res.status}`,
        {
          url: stripQuery(url),
          status: res.status,
        },
      );
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AppError('upstream_error', 'Upstream answered with invalid JSON', { url: stripQuery(url) });
    }
  }

  /** A fetch-compatible function (for libraries such as youtubei.js) routed through this client. */
  readonly fetch: FetchLike = async (input, init) => {
    const req = input instanceof Request ? input : null;
    const url = req ? req.url : input.toString();
    const headers = headersToRecord(init?.headers ?? req?.headers);
    let body: string | Uint8Array | null = null;
    const rawBody = init?.body ?? (req && req.body ? await req.arrayBuffer() : null);
    if (typeof rawBody === 'string') body = rawBody;
    else if (rawBody instanceof ArrayBuffer) body = new Uint8Array(rawBody);
    else if (rawBody instanceof Uint8Array) body = rawBody;
    else if (rawBody != null)
      body = new Uint8Array(await new Response(rawBody as ConstructorParameters<typeof Response>[0]).arrayBuffer());
    const redirect = (init?.redirect ?? req?.redirect) === 'manual' ? 'manual' : 'follow';
    return this.request(url, {
      method: init?.method ?? req?.method ?? 'GET',
      headers,
      body,
      redirect,
      ...((init?.signal ?? req?.signal) ? { signal: (init?.signal ?? req?.signal)! } : {}),
    });
  };

  async close(): Promise<void> {
    if (this.ownsPools) await Promise.all([this.pools.agent.close(), this.pools.bulk.close()]);
  }
}

function lower(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v;
  return out;
}

function headersToRecord(h: ConstructorParameters<typeof Headers>[0] | undefined): Record<string, string> {
  if (!h) return {};
  const out: Record<string, string> = {};
  new Headers(h).forEach((v, k) => (out[k] = v));
  return out;
}

function stripQuery(url: string | URL): string {
  const u = new URL(url.toString());
  return `${u.origin}${u.pathname}`;
}

/** Reads the whole body. The request timeout still runs: a stalled body is upstream_timeout, not a raw DOMException. */
async function readBody(res: Response, url: string | URL): Promise<string> {
  try {
    return await res.text();
  } catch (err) {
    const host = new URL(url.toString()).hostname;
    if ((err as { name?: string } | null)?.name === 'TimeoutError') {
      throw new AppError('upstream_timeout', 'Upstream did not answer in time', { host }, { cause: err });
    }
    throw new AppError('upstream_error', 'Upstream connection failed while reading the body', { host }, { cause: err });
  }
}

/** fetch() wraps a connection failure in TypeError('fetch failed') with the cause; BulkAgent throws it as is. */
function mapFetchError(err: unknown, url: URL, timeout: AbortSignal): AppError {
  if (err instanceof AppError) return err;
  const e = err as { code?: unknown; cause?: { code?: string } } | null;
  const code = e?.cause?.code ?? (typeof e?.code === 'string' ? e.code : undefined);
  if (code === 'ESSRF') {
    return new AppError('invalid_url', 'URL points to a private or reserved address', { host: url.hostname });
  }
  if (timeout.aborted)
    return new AppError('upstream_timeout', 'Upstream did not answer in time', { host: url.hostname });
  return new AppError(
    'upstream_error',
    'Could not reach upstream',
    { host: url.hostname, cause: code },
    { cause: err },
  );
}
