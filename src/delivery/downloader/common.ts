/**
 * Pieces shared by the HTTP and HLS downloaders: per-request scopes (idle
 * timeout + cancellation), status classification, retry with backoff and a
 * throttled progress meter.
 */
import type { WriteStream } from 'node:fs';
import { AppError } from '../../errors/app-error.js';
import type { HttpClient } from '../../infra/http-client/http-client.js';

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

/** A local filesystem failure (ENOSPC, EACCES...): not worth retrying against upstream. Socket errors arrive wrapped by undici. */
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
  // fetch itself adds `Accept-Encoding: identity` to ranged requests; without Range we ask for it.
  if (out.range === undefined) out['accept-encoding'] = 'identity';
  return out;
}

/**
 * Bytes a file stream may hold queued (not yet written) before reading waits.
 * Reads and writes overlap, and whatever queues up while a write is in flight
 * goes out as one writev (a few socket reads per syscall), with memory per
 * connection bounded by this.
 */
export const WRITE_HIGH_WATER_MARK = 256 * 1024;

export interface BodyCopy {
  /** bytes the file stream wrote (all it was given, unless the file failed) */
  written: number;
  /** what reading the body threw (the transfer broke midway), or null */
  bodyError: unknown;
}

/**
 * Copies a response body into a file write stream, at most `limit` bytes,
 * with backpressure (reading waits while the file lags). A body that fails
 * midway ends the copy instead of throwing, so everything received is on disk
 * before the failure is handled; a file error rejects. The stream is closed
 * on return either way, and the rest of the body is cancelled.
 */
export async function copyBodyToFile(
  body: ReadableStream<Uint8Array> | null,
  file: WriteStream,
  opts: {
    limit?: number;
    onData?: (n: number) => void;
    /** Bytes as they reach the file (in order), so a chunk map saved meanwhile counts them. */
    onWritten?: (n: number) => void;
  } = {},
): Promise<BodyCopy> {
  let fileError: unknown = null;
  let bodyError: unknown = null;
  const closed = new Promise<void>((resolve) => file.once('close', () => resolve()));
  file.on('error', (err) => (fileError ??= err));
  const reader = body?.getReader();
  let remaining = opts.limit ?? Number.POSITIVE_INFINITY;
  try {
    while (reader && remaining > 0 && fileError === null) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (err) {
        bodyError = err;
        break;
      }
      if (next.done) break;
      const chunk = next.value.byteLength > remaining ? next.value.subarray(0, remaining) : next.value;
      remaining -= chunk.byteLength;
      opts.onData?.(chunk.byteLength);
      const n = chunk.byteLength;
      const onWritten = opts.onWritten;
      const flushed = file.write(chunk, onWritten ? (err) => err || onWritten(n) : undefined);
      if (!flushed) await drained(file);
    }
  } finally {
    // Stop the rest of the body (a chunk complete early, a failed file); a finished body ignores this.
    reader?.cancel().catch(() => undefined);
    if (!file.destroyed) file.end();
    await closed;
  }
  if (fileError !== null) throw fileError;
  return { written: file.bytesWritten, bodyError };
}

function drained(file: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      file.off('drain', done).off('error', done).off('close', done);
      resolve();
    };
    file.on('drain', done).on('error', done).on('close', done);
  });
}

/** Opens a request inside `scope`; any failure comes back through scope.mapError. */
export async function openRequest(
  opts: TransferOptions,
  url: string,
  scope: RequestScope,
  extraHeaders: Record<string, string> = {},
  cancel?: AbortSignal,
): Promise<Response> {
  try {
    return await opts.client.request(url, {
      method: 'GET',
      headers: buildHeaders(opts.headers, extraHeaders),
      guard: opts.guard === true,
      signal: scope.signal,
      timeoutMs: NO_REQUEST_TIMEOUT_MS,
    });
  } catch (err) {
    throw scope.mapError(err, url, cancel ?? opts.signal);
  }
}

/**
 * Rejects statuses a download cannot use. 403/410 (expired or foreign signed
 * URL) are never retried: the caller re-extracts. 404 is not_found. 429 and 5xx
 * are retryable. `accept` lists the statuses the caller handles itself.
 */
export async function checkStatus(res: Response, url: string, accept: readonly number[]): Promise<void> {
  if (accept.includes(res.status)) return;
  await res.body?.cancel().catch(() => undefined);
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
