/**
 * Pieces shared by the HTTP and HLS downloaders: per-request scopes (idle
 * timeout + cancellation), status classification, retry with backoff and a
 * throttled progress meter.
 */
import type { WriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { AppError } from '../../errors/app-error.js';
import type { HttpClient, StreamResponse } from '../../infra/http-client/http-client.js';

export interface DownloadProgress {
  bytesDone: number;
  /** null while the size is unknown */
  bytesTotal: number | null;
  /** moving average over the last few seconds */
  speedBps: number;
  /** null while it cannot be estimated */
  etaSeconds: number | null;
}

export interface RetryOptions {
  /** Attempts per request, chunk or segment before giving up (default 5). Progress resets the count. */
  tries?: number;
  /** First backoff delay (default 250 ms); doubles per failure, with jitter. */
  backoffBaseMs?: number;
  /** Backoff ceiling (default 8 s). */
  backoffMaxMs?: number;
}

/** What every downloader needs to talk to upstream. */
export interface TransferOptions extends RetryOptions {
  /** The one outbound client: upstream rewrite and the SSRF guard apply. */
  client: HttpClient;
  /** The format's http_headers (Referer, User-Agent, Cookie...), sent on every request. */
  headers?: Record<string, string>;
  /** Apply the SSRF guard to every request (user-supplied URLs). */
  guard?: boolean;
  /** Stops every request promptly; partial files are kept for a later resume. */
  signal?: AbortSignal;
  /** No byte for this long fails the attempt (default 30 s); also bounds the wait for response headers. */
  idleTimeoutMs?: number;
  /** Minimum spacing of onProgress calls (default 250 ms). */
  progressIntervalMs?: number;
}

export const DEFAULT_TRIES = 5;
export const DEFAULT_BACKOFF_BASE_MS = 250;
export const DEFAULT_BACKOFF_MAX_MS = 8_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
export const DEFAULT_PROGRESS_INTERVAL_MS = 250;
/** The client's whole-request timeout is disabled (a long download is not a slow one): the idle timer replaces it. */
export const NO_REQUEST_TIMEOUT_MS = 2_147_483_647;

/** Failure reasons (details.reason) worth another attempt. */
const RETRYABLE_REASONS = new Set(['network', 'timeout', 'http_status', 'short_read']);

export function reasonOf(err: unknown): string | undefined {
  if (!(err instanceof AppError)) return undefined;
  const details = err.details as { reason?: unknown } | null | undefined;
  return typeof details?.reason === 'string' ? details.reason : undefined;
}

export function isRetryable(err: unknown): boolean {
  return RETRYABLE_REASONS.has(reasonOf(err) ?? '');
}

/** The error a cancelled operation rejects with: the signal's reason when it is an Error. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new AppError('upstream_error', 'The download was aborted');
}

export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

/** Backoff before attempt `failures + 1`: base * 2^(failures-1), capped, with "equal jitter" (50-100 %). */
export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exp / 2 + (Math.random() * exp) / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it succeeds, a non-retryable error occurs or `tries`
 * consecutive attempts failed without progress (`progress()` growing resets the count).
 */
export async function retrying<T>(
  attempt: () => Promise<T>,
  opts: RetryOptions & { signal?: AbortSignal | undefined; progress?: () => number },
): Promise<T> {
  const tries = Math.max(1, opts.tries ?? DEFAULT_TRIES);
  let failures = 0;
  let mark = opts.progress?.() ?? 0;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      if (!isRetryable(err)) throw err;
      const now = opts.progress?.() ?? 0;
      if (now > mark) {
        mark = now;
        failures = 0;
      }
      failures++;
      if (failures >= tries) throw exhausted(err as AppError, failures);
      await sleep(
        backoffDelay(
          failures,
          opts.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS,
          opts.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS,
        ),
        opts.signal,
      );
    }
  }
}

function exhausted(err: AppError, tries: number): AppError {
  const details = (err.details ?? {}) as Record<string, unknown>;
  return new AppError(err.code, `${err.message} (gave up after ${tries} tries)`, { ...details, tries }, { cause: err });
}

/**
 * One request's lifetime: an idle timer (no byte for idleMs aborts it) and the
 * caller's cancellation, folded into one AbortSignal for HttpClient.request.
 */
export class RequestScope {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly parents: AbortSignal[] = [];
  private disposed = false;
  timedOut = false;

  constructor(
    private readonly idleMs: number,
    ...parents: Array<AbortSignal | undefined>
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new AppError('upstream_timeout', `No data received for ${this.idleMs} ms`));
    }, idleMs);
    this.timer.unref();
    for (const p of parents) if (p) this.link(p);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Also abort when `parent` does. */
  link(parent: AbortSignal): void {
    if (parent.aborted) {
      this.controller.abort(parent.reason);
      return;
    }
    this.parents.push(parent);
    parent.addEventListener('abort', this.onParentAbort, { once: true });
  }

  private readonly onParentAbort = (): void => {
    const reason = this.parents.find((p) => p.aborted)?.reason as unknown;
    this.controller.abort(reason);
  };

  /** Data arrived: restart the idle timer. */
  touch(): void {
    if (!this.disposed) this.timer.refresh();
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    for (const p of this.parents) p.removeEventListener('abort', this.onParentAbort);
    this.parents.length = 0;
  }

  /**
   * What a request or body read threw, as the error to act on: the caller's
   * abort reason, a retryable timeout/network failure, or a fatal AppError.
   */
  mapError(err: unknown, url: string, cancel?: AbortSignal): Error {
    if (cancel?.aborted) return abortReason(cancel);
    const host = hostOf(url);
    if (this.timedOut) {
      return new AppError(
        'upstream_error',
        `Upstream sent nothing for ${this.idleMs} ms`,
        { host, reason: 'timeout' },
        { cause: err },
      );
    }
    if (this.controller.signal.aborted) {
      const reason: unknown = this.controller.signal.reason;
      return reason instanceof Error ? reason : new AppError('upstream_error', 'The request was aborted');
    }
    if (isDiskError(err)) {
      const code = (err as { code: string }).code;
      return new AppError(
        'internal_error',
        'Could not write the download to disk',
        { reason: 'disk', code },
        { cause: err },
      );
    }
    if (err instanceof AppError) {
      if (reasonOf(err) !== undefined) return err;
      // HttpClient's mapping of connection failures: worth a retry.
      if (err.code === 'upstream_error' || err.code === 'upstream_timeout') {
        return new AppError(
          'upstream_error',
          err.message,
          { ...((err.details ?? {}) as object), host, reason: 'network' },
          { cause: err },
        );
      }
      return err;
    }
    return new AppError(
      'upstream_error',
      'The connection to upstream failed during the transfer',
      { host, reason: 'network' },
      { cause: err },
    );
  }
}

/** A local filesystem failure (ENOSPC, EACCES...): not worth retrying against upstream. Socket errors arrive wrapped by the HTTP clients. */
function isDiskError(err: unknown): boolean {
  const e = err as { code?: unknown; syscall?: unknown } | null;
  return typeof e?.code === 'string' && e.code.startsWith('E') && typeof e.syscall === 'string';
}

/** Request headers: the format's headers (minus any Range of their own), ours, and identity encoding (byte counts must be exact). */
export function buildHeaders(
  formatHeaders: Record<string, string> | undefined,
  extra: Record<string, string> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(formatHeaders ?? {})) {
    const key = k.toLowerCase();
    if (key === 'range' || key === 'if-range' || key === 'accept-encoding') continue;
    out[key] = v;
  }
  for (const [k, v] of Object.entries(extra)) out[k.toLowerCase()] = v;
  // fetch adds this to ranged requests itself, HttpClient.stream adds nothing.
  out['accept-encoding'] = 'identity';
  return out;
}

/**
 * Bytes a file stream may hold queued (not yet written) before the body is
 * paused. Reads and writes overlap, and whatever queues up while a write is in
 * flight goes out as one writev (many socket reads per syscall), with memory
 * per connection bounded by this and BODY_HIGH_WATER_MARK. Measured with the
 * bulk transport (reads of up to 512 KiB): 128, 256 and 512 KiB download one
 * file equally fast; 20 at once peak at ~128, ~131 and ~135 MiB RSS.
 */
export const WRITE_HIGH_WATER_MARK = 256 * 1024;

/** What a response body buffers before its socket stops being read. */
export const BODY_HIGH_WATER_MARK = 128 * 1024;

export interface BodyCopy {
  /** bytes the file stream wrote (all it was given, unless the file failed) */
  written: number;
  /** what reading the body threw (the transfer broke midway), or null */
  bodyError: unknown;
}

const noop = (): void => undefined;

/**
 * Copies a response body into a file write stream, at most `limit` bytes
 * (unless `extend` grants more when it is reached), with backpressure (the
 * body pauses while the file lags). A body that fails midway ends the copy
 * instead of throwing, so everything received reaches the disk before the
 * failure is handled (pipeline() would destroy the file stream and drop its
 * queued writes); a file error rejects. The stream is closed on return either
 * way. Past the limit the body is cut, unless it ends right there (a closed
 * range: its connection stays reusable).
 *
 * Event-driven on purpose: no promise per chunk, which is most of what a
 * WHATWG-stream read loop costs at hundreds of MiB/s.
 */
export function copyBodyToFile(
  body: Readable | null,
  file: WriteStream,
  opts: {
    limit?: number;
    /** Called when the limit is reached: more bytes to accept from the body (0: stop there). */
    extend?: () => number;
    onData?: (n: number) => void;
    /** Bytes as they reach the file (in order), so a chunk map saved meanwhile counts them. */
    onWritten?: (n: number) => void;
    /** Gets each body chunk back once all of it that was written is on disk (StreamResponse.recycle). */
    recycle?: (chunk: Buffer) => void;
  } = {},
): Promise<BodyCopy> {
  return new Promise((resolve, reject) => {
    let fileError: unknown = null;
    let bodyError: unknown = null;
    let remaining = opts.limit ?? Number.POSITIVE_INFINITY;
    const { extend, onData, onWritten, recycle } = opts;
    let stopped = false;

    /** Writes what fits under the limit; false when the file asks the body to wait. `written` runs once it is done. */
    const put = (chunk: Buffer, written: (() => void) | undefined): boolean => {
      const part = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk;
      const n = part.length;
      remaining -= n;
      onData?.(n);
      if (!onWritten && !written) return file.write(part);
      return file.write(part, (err) => {
        if (!err) onWritten?.(n);
        written?.();
      });
    };
    const extended = (): boolean => {
      const more = extend?.() ?? 0;
      if (more > 0) remaining += more;
      return more > 0;
    };
    /** Writes all of `chunk` the limit (extended as needed) lets through; null when it cuts the chunk. */
    const take = (chunk: Buffer): boolean | null => {
      // The chunk goes back once every write of a part of it has completed (and this loop is over).
      let holds = 1;
      const release = recycle
        ? (): void => {
            if (--holds === 0) recycle(chunk);
          }
        : undefined;
      try {
        for (let rest = chunk; ;) {
          if (remaining <= 0 && !extended()) return null;
          const n = Math.min(remaining, rest.length);
          holds++;
          const more = put(rest, release);
          if (n === rest.length) return more;
          rest = rest.subarray(n);
        }
      } finally {
        release?.();
      }
    };
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      if (body) {
        body.off('data', data).off('end', stop).off('error', failed).off('close', closed);
        body.on('error', noop);
        // What arrived before the body ended or broke is still in its buffer: read() hands it out, even
        // after the client destroyed the stream (a connection cut while the caller was busy elsewhere).
        while (fileError === null && (remaining > 0 || extended())) {
          const chunk = body.read() as Buffer | null;
          if (chunk === null || take(chunk) === null) break;
        }
        // A finished body ignores this; an unfinished one is aborted (its connection closed).
        body.destroy();
      }
      file.off('drain', resume);
      if (!file.destroyed) file.end();
    };
    const failed = (err: unknown): void => {
      bodyError ??= err;
      stop();
    };
    const closed = (): void => {
      if (!body!.readableEnded) bodyError ??= body!.errored ?? new Error('The response body closed early');
      stop();
    };
    const resume = (): void => void body?.resume();
    const data = (chunk: Buffer): void => {
      const more = take(chunk);
      if (more === null) return stop(); // past the limit: cut
      // Exactly at the limit: a body that ends here says so in the same tick (its connection stays reusable).
      if (remaining <= 0 && !extended()) setImmediate(stop);
      else if (!more) body!.pause();
    };

    file.on('error', (err) => {
      fileError ??= err;
      stop();
    });
    file.once('close', () => {
      if (fileError !== null) reject(fileError as Error);
      else resolve({ written: file.bytesWritten, bodyError });
    });
    if (!body || remaining <= 0) return stop();
    if (body.destroyed) return closed();
    file.on('drain', resume);
    body.on('data', data).once('end', stop).once('error', failed).once('close', closed);
  });
}

function requestInit(opts: TransferOptions, scope: RequestScope, extraHeaders: Record<string, string>) {
  return {
    headers: buildHeaders(opts.headers, extraHeaders),
    guard: opts.guard === true,
    signal: scope.signal,
    timeoutMs: NO_REQUEST_TIMEOUT_MS,
  };
}

async function inScope<T>(scope: RequestScope, url: string, cancel: AbortSignal | undefined, open: () => Promise<T>) {
  try {
    return await open();
  } catch (err) {
    throw scope.mapError(err, url, cancel);
  }
}

/** Opens a request inside `scope`; any failure comes back through scope.mapError. */
export function openRequest(
  opts: TransferOptions,
  url: string,
  scope: RequestScope,
  extraHeaders: Record<string, string> = {},
  cancel?: AbortSignal,
): Promise<Response> {
  return inScope(scope, url, cancel ?? opts.signal, () =>
    opts.client.request(url, { method: 'GET', ...requestInit(opts, scope, extraHeaders) }),
  );
}

/** openRequest with the body as a Node stream (HttpClient.stream), for bulk transfers. */
export function openStream(
  opts: TransferOptions,
  url: string,
  scope: RequestScope,
  extraHeaders: Record<string, string> = {},
  cancel?: AbortSignal,
): Promise<StreamResponse> {
  return inScope(scope, url, cancel ?? opts.signal, () =>
    opts.client.stream(url, { ...requestInit(opts, scope, extraHeaders), highWaterMark: BODY_HIGH_WATER_MARK }),
  );
}

/** Abandons a response body, fetch's web stream or stream()'s Node stream alike; never throws. */
export async function discardBody(res: Response | StreamResponse): Promise<void> {
  const body = res.body;
  if (body instanceof Readable) body.on('error', noop).destroy();
  else await body?.cancel().catch(noop);
}

/**
 * Rejects statuses a download cannot use. 403/410 (expired or foreign signed
 * URL) are never retried: the caller re-extracts. 404 is not_found. 429 and 5xx
 * are retryable. `accept` lists the statuses the caller handles itself.
 */
export async function checkStatus(
  res: Response | StreamResponse,
  url: string,
  accept: readonly number[],
): Promise<void> {
  if (accept.includes(res.status)) return;
  await discardBody(res);
  const status = res.status;
  const host = hostOf(url);
  if (status === 403 || status === 410) {
    throw new AppError('upstream_error', `The media URL answered HTTP ${status}`, {
      status,
      host,
      reason: 'forbidden',
    });
  }
  if (status === 404) {
    throw new AppError('not_found', 'The media URL answered HTTP 404', { status, host, reason: 'not_found' });
  }
  if (status === 429 || status >= 500) {
    throw new AppError('upstream_error', `Upstream answered HTTP ${status}`, { status, host, reason: 'http_status' });
  }
  throw new AppError('upstream_error', `Unexpected HTTP ${status} from upstream`, {
    status,
    host,
    reason: 'bad_status',
  });
}

/**
 * Throttled progress reporting: at most one call per interval (plus a final
 * one), speed as a moving average over a sliding window. bytesDone only moves
 * forward unless reset() (a restart from zero) says otherwise.
 */
export class ProgressMeter {
  private samples: Array<{ t: number; bytes: number }> = [];
  private lastEmit: number;
  private reported = 0;
  done = 0;

  constructor(
    private readonly cb: ((p: DownloadProgress) => void) | undefined,
    public total: number | null = null,
    private readonly intervalMs = DEFAULT_PROGRESS_INTERVAL_MS,
    private readonly windowMs = 5_000,
  ) {
    this.lastEmit = performance.now();
    this.samples.push({ t: this.lastEmit, bytes: 0 });
  }

  /** Sets the base without counting it as transferred (resumed bytes). */
  reset(done: number): void {
    this.done = done;
    this.reported = done;
    this.samples = [{ t: performance.now(), bytes: done }];
  }

  set(done: number): void {
    this.done = done;
    this.maybeEmit();
  }

  add(n: number): void {
    this.done += n;
    this.maybeEmit();
  }

  snapshot(now = performance.now()): DownloadProgress {
    const bytesDone = Math.max(this.reported, this.done);
    const oldest = this.samples[0]!;
    const dt = (now - oldest.t) / 1000;
    const speedBps = dt > 0 ? Math.max(0, Math.round((bytesDone - oldest.bytes) / dt)) : 0;
    const etaSeconds =
      this.total === null ? null : speedBps > 0 ? Math.max(0, (this.total - bytesDone) / speedBps) : null;
    return { bytesDone, bytesTotal: this.total, speedBps, etaSeconds };
  }

  private maybeEmit(): void {
    if (!this.cb) return;
    const now = performance.now();
    if (now - this.lastEmit < this.intervalMs) return;
    this.emit(now);
  }

  /** The last call: always emitted. */
  finish(): void {
    if (this.total !== null) this.done = this.total;
    if (this.cb) this.emit(performance.now(), true);
  }

  private emit(now: number, final = false): void {
    this.lastEmit = now;
    this.samples.push({ t: now, bytes: Math.max(this.reported, this.done) });
    while (this.samples.length > 2 && now - this.samples[1]!.t >= this.windowMs) this.samples.shift();
    const p = this.snapshot(now);
    if (final) p.etaSeconds = 0;
    this.reported = p.bytesDone;
    try {
      this.cb!(p);
    } catch {
      // A failing observer must not fail the transfer.
    }
  }
}
