/**
 * `ytbh download <url>`: the whole pipeline in this process (embedded
 * database in DATA_DIR, in-process queue and worker, no HTTP server), or with
 * `--server URL` on a running ytbh (submit, follow the SSE events, fetch the
 * file). Either way the file lands in `-o DIR` under its sanitized title, the
 * progress goes to stderr and stdout carries only the final path.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { cliConfig } from './context.js';
import { ProgressBar, type ProgressState } from './progress-bar.js';
import { createLogger } from '../app/logger.js';
import { createServices, type Services } from '../app/services.js';
import { AppError } from '../errors/app-error.js';
import {
  CONTAINERS,
  QUALITIES,
  resolveOptions,
  sanitizeFilename,
  type Container,
  type DownloadOptionsInput,
  type Quality,
} from '../delivery/options.js';
import { createTask, getTask, transition } from '../delivery/tasks.js';
import { ACTIVE_STATUSES, FINAL_STATUSES } from '../delivery/task-status.js';
import { DownloadWorker } from '../delivery/worker.js';
import { workDir } from '../delivery/pipeline.js';
import { taskEvent, type TaskChannelEvent, type TaskEvent } from '../delivery/progress.js';
import type { DownloadTask, TaskStatus } from '../infra/db/schema.js';

export interface DownloadCommandOptions {
  quality?: Quality;
  format?: Container;
  audioOnly?: boolean;
  output?: string;
  server?: string;
  token?: string;
}

/** What a download ended with when it did not produce a file. */
export class DownloadError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

class Cancelled extends Error {
  constructor() {
    super('The download was cancelled');
  }
}

function parseQuality(value: string): Quality {
  const v = value
    .trim()
    .toLowerCase()
    .replace(/^(\d+)p$/, '$1');
  if (!(QUALITIES as readonly string[]).includes(v))
    throw new InvalidArgumentError(`Expected one of ${QUALITIES.join(', ')}.`);
  return v as Quality;
}

function parseFormat(value: string): Container {
  const v = value.trim().toLowerCase();
  if (!(CONTAINERS as readonly string[]).includes(v))
    throw new InvalidArgumentError(`Expected one of ${CONTAINERS.join(', ')}.`);
  return v as Container;
}

function optionsInput(opts: DownloadCommandOptions): DownloadOptionsInput {
  return {
    ...(opts.quality ? { quality: opts.quality } : {}),
    ...(opts.format ? { format: opts.format } : {}),
    ...(opts.audioOnly ? { audio_only: true } : {}),
  };
}

type EventLike = Pick<TaskEvent, 'status' | 'progress' | 'bytes_done' | 'bytes_total' | 'speed_bps' | 'eta_seconds'> & {
  error?: { code: string; message: string } | null;
};

function progressState(e: EventLike): ProgressState {
  const downloading = e.status === 'downloading';
  return {
    status: e.status,
    progress: e.progress,
    bytesDone: e.bytes_done,
    bytesTotal: e.bytes_total,
    speedBps: downloading ? e.speed_bps : null,
    etaSeconds: downloading ? e.eta_seconds : e.status === 'completed' ? 0 : null,
    note: e.status === 'queued' && e.error ? e.error.message : null,
  };
}

/** `name.ext`, or `name (1).ext`, … when the directory already has one: an existing file is never replaced. */
async function freePath(dir: string, name: string): Promise<string> {
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let i = 0; ; i++) {
    const candidate = path.join(dir, i ? `${stem} (${i})${ext}` : name);
    const exists = await stat(candidate).then(
      () => true,
      () => false,
    );
    if (!exists) return candidate;
  }
}

/** Writes the stream next to its final name first, so an interrupted copy never looks finished. */
async function saveStream(source: Readable, dir: string, name: string, signal?: AbortSignal): Promise<string> {
  await mkdir(dir, { recursive: true });
  const dest = await freePath(dir, name);
  const part = `${dest}.part`;
  try {
    await pipeline(source, createWriteStream(part, { flags: 'wx' }), ...(signal ? [{ signal }] : []));
    await rename(part, dest);
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  }
  return dest;
}

function failure(task: Pick<DownloadTask, 'status' | 'error_code' | 'error_message'>): Error {
  if (task.status === 'cancelled') return new Cancelled();
  return new DownloadError(task.error_code ?? 'internal_error', task.error_message ?? `The download ${task.status}`);
}

// ---------------------------------------------------------------------------
// In this process

/** Embedded, whatever the environment says about shared backends: this process runs its own download. */
async function openLocalServices(): Promise<Services> {
  const config = { ...cliConfig(), databaseUrl: undefined, redisUrl: undefined };
  return createServices(config, { log: createLogger(config, 2) });
}

export async function downloadInProcess(
  url: string,
  opts: DownloadCommandOptions,
  bar: ProgressBar,
  signal: AbortSignal,
): Promise<string> {
  const services = await openLocalServices();
  try {
    const db = services.database.db;
    const options = resolveOptions(optionsInput(opts), null);
    const { target } = await services.extraction.resolve(url);
    if (target.kind === 'playlist')
      throw new AppError(
        'unsupported_url',
        'Playlist downloads are not available yet; download the entries one by one',
      );
    if (signal.aborted) throw new Cancelled();
    // An active twin is a run that was killed before it could finish: this run continues it.
    const { task } = await createTask(db, {
      userId: null,
      url: target.url,
      platform: target.platform,
      videoKey: target.id,
      options: options as unknown as Record<string, unknown>,
      quality: options.quality,
      format: options.format,
      audioOnly: options.audio_only,
    });
    bar.update(progressState(taskEvent(task)));

    let settle!: (t: DownloadTask | Error) => void;
    const finished = new Promise<DownloadTask>((resolve, reject) => {
      settle = (t) => (t instanceof Error ? reject(t) : FINAL_STATUSES.includes(t.status) ? resolve(t) : undefined);
    });
    const unlisten = await services.events.listen((e) => {
      if (e.task_id === task.id && e.type !== 'task_deleted' && !signal.aborted) bar.update(progressState(e));
    });

    const onAbort = () => {
      void (async () => {
        await transition(db, task.id, 'cancelled', { error_code: null, error_message: null }, ACTIVE_STATUSES);
        await services.queue.cancel(task.id);
        await rm(workDir(services.config.dataDir, task.id), { recursive: true, force: true });
      })().then(
        () => settle(new Cancelled()),
        (err: unknown) => settle(err as Error),
      );
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });

    const worker = new DownloadWorker({
      db,
      http: services.http,
      extraction: services.extraction,
      storage: services.storage,
      publisher: services.publisher,
      log: services.log,
      dataDir: services.config.dataDir,
      ffmpegPath: services.config.ffmpegPath,
      queue: services.queue,
      config: services.config,
      metrics: services.metrics,
    });
    // Only this task: not worker.start(), which would also pick up whatever else the database has unfinished.
    await services.queue.consume(
      async (job) => {
        try {
          await worker.handle(job);
          const now = await getTask(db, job.taskId);
          // Not final: a transient failure was queued again with a backoff; the queue runs it later.
          if (now) settle(now);
        } catch (err) {
          settle(err as Error);
        }
      },
      { concurrency: 1 },
    );
    await services.queue.enqueue(task.id, { group: task.platform });

    let done: DownloadTask;
    try {
      done = await finished;
    } finally {
      signal.removeEventListener('abort', onAbort);
      unlisten();
    }
    if (done.status !== 'completed' || !done.file_path) throw failure(done);
    bar.finish(progressState(taskEvent(done)));

    const info = await services.extraction
      .info(done.url)
      .then((r) => r.info)
      .catch(() => null);
    const ext = done.file_path.slice(done.file_path.lastIndexOf('.') + 1);
    const name = `${sanitizeFilename(null, {
      id: done.video_key ?? info?.id ?? done.id,
      title: info?.title ?? done.video_key ?? 'download',
      platform: done.platform,
    })}.${ext}`;
    return await saveStream(await services.storage.read(done.file_path), outputDir(opts), name, signal);
  } finally {
    await services.close();
  }
}

// ---------------------------------------------------------------------------
// Through a running server

interface RemoteTask {
  id: string;
  status: TaskStatus;
  platform: string;
  video_id: string | null;
  format: string | null;
  progress: number;
  bytes_done: number;
  bytes_total: number | null;
  speed_bps: number | null;
  eta_seconds: number | null;
  error: { code: string; message: string } | null;
  file_url: string | null;
}

function serverBase(server: string): string {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new DownloadError('invalid_url', `--server must be an http(s) URL, got "${server}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new DownloadError('invalid_url', `--server must be an http(s) URL, got "${server}"`);
  return u.toString().replace(/\/+$/, '');
}

async function remoteError(res: Response, what: string): Promise<DownloadError> {
  const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  const code = body?.error?.code ?? `http_${res.status}`;
  return new DownloadError(code, `${what}: ${body?.error?.message ?? `the server answered ${res.status}`}`);
}

/** fetch with the connection errors turned into a sentence. */
async function call(base: string, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new DownloadError(
      'upstream_error',
      `Could not reach ${base}: ${cause?.code ?? cause?.message ?? String(err)}`,
    );
  }
}

/** Server-sent events as {event, data} pairs; comments (keep-alives) are skipped. */
export async function* readSse(body: WebReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length) yield { event, data: data.join('\n') };
    }
  }
}

/** A file name from the server's Content-Disposition, made safe again: the server is not trusted with paths. */
function nameFromDisposition(header: string | null, fallback: string, ext: string): string {
  let raw: string | undefined;
  const star = header && /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star) {
    try {
      raw = decodeURIComponent(star[1]!.trim());
    } catch {
      raw = undefined;
    }
  }
  raw ??= (header && /filename="([^"]*)"/i.exec(header)?.[1]) || undefined;
  const given = raw ? path.extname(raw).slice(1).toLowerCase() : '';
  const safeExt = (CONTAINERS as readonly string[]).includes(given) ? given : ext;
  const stem = raw ? raw.slice(0, raw.length - (given ? given.length + 1 : 0)) : fallback;
  return `${sanitizeFilename('{title}', { id: fallback, title: stem, platform: 'generic' })}.${safeExt}`;
}

export async function downloadViaServer(
  url: string,
  opts: DownloadCommandOptions,
  bar: ProgressBar,
  signal: AbortSignal,
): Promise<string> {
  const base = serverBase(opts.server!);
  const auth: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  const res = await call(base, `${base}/api/v2/downloads`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ url, options: optionsInput(opts) }),
    signal,
  });
  if (res.status !== 200 && res.status !== 202) throw await remoteError(res, 'The server refused the download');
  let task = (await res.json()) as RemoteTask;
  const ours = res.status === 202;
  bar.update(progressState(task));

  try {
    task = await follow(base, task, auth, bar, signal);
  } catch (err) {
    if (signal.aborted && ours) {
      // Ctrl-C: the task this command queued is cancelled on the server too (best effort).
      await fetch(`${base}/api/v2/downloads/${task.id}`, {
        method: 'DELETE',
        headers: auth,
        signal: AbortSignal.timeout(5000),
      }).catch(() => {});
    }
    throw signal.aborted ? new Cancelled() : err;
  }
  if (task.status !== 'completed' || !task.file_url) {
    throw failure({
      status: task.status,
      error_code: task.error?.code ?? null,
      error_message: task.error?.message ?? null,
    });
  }
  bar.finish(progressState(task));

  const file = await call(base, `${base}${task.file_url}`, { headers: auth, signal });
  if (!file.ok || !file.body) throw await remoteError(file, 'The server did not hand over the file');
  const ext = task.format ?? 'bin';
  const name = nameFromDisposition(file.headers.get('content-disposition'), task.video_id ?? task.id, ext);
  return saveStream(Readable.fromWeb(file.body as WebReadableStream<Uint8Array>), outputDir(opts), name, signal);
}

/** SSE until a final event; a dropped stream is reopened (it starts with the latest state). */
async function follow(
  base: string,
  task: RemoteTask,
  auth: Record<string, string>,
  bar: ProgressBar,
  signal: AbortSignal,
): Promise<RemoteTask> {
  for (let attempt = 0; ; attempt++) {
    if (!FINAL_STATUSES.includes(task.status)) {
      try {
        const res = await call(base, `${base}/api/v2/downloads/${task.id}/events`, {
          headers: { ...auth, accept: 'text/event-stream' },
          signal,
        });
        if (!res.ok || !res.body) throw await remoteError(res, 'Could not follow the download');
        for await (const { data } of readSse(res.body as WebReadableStream<Uint8Array>)) {
          const e = JSON.parse(data) as TaskChannelEvent;
          // Removed meanwhile (from another client): the read below answers 404 and says so.
          if (e.type === 'task_deleted') break;
          bar.update(progressState(e));
          if (FINAL_STATUSES.includes(e.status)) break;
        }
      } catch (err) {
        if (signal.aborted || attempt >= 5) throw err;
      }
    }
    const res = await call(base, `${base}/api/v2/downloads/${task.id}`, { headers: auth, signal });
    if (!res.ok) throw await remoteError(res, 'Could not read the download');
    task = (await res.json()) as RemoteTask;
    if (FINAL_STATUSES.includes(task.status)) return task;
    await new Promise((r) => setTimeout(r, 500));
  }
}

// ---------------------------------------------------------------------------

function outputDir(opts: DownloadCommandOptions): string {
  return path.resolve(opts.output ?? process.cwd());
}

export function registerDownload(program: Command): void {
  program
    .command('download <url>')
    .description('download a video into a directory (in this process, or on a running server with --server)')
    .addOption(
      new Option('-q, --quality <quality>', `maximum height: ${QUALITIES.join(' | ')}`).argParser(parseQuality),
    )
    .addOption(new Option('-f, --format <container>', `container: ${CONTAINERS.join(' | ')}`).argParser(parseFormat))
    .option('--audio-only', 'audio only (m4a unless -f says otherwise)')
    .option('-o, --output <dir>', 'output directory (default: the current directory)')
    .option('--server <url>', 'submit to a running ytbh server instead of downloading in this process')
    .option('--token <token>', 'API key or access token for --server (default: $YTBH_TOKEN)')
    .action(async (url: string, opts: DownloadCommandOptions) => {
      opts.token ??= process.env.YTBH_TOKEN || undefined;
      const bar = new ProgressBar(process.stderr);
      const controller = new AbortController();
      let interrupted = false;
      const onSignal = () => {
        if (interrupted) process.exit(130);
        interrupted = true;
        bar.clear();
        process.stderr.write('cancelling… (press Ctrl-C again to quit at once)\n');
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const file = opts.server
          ? await downloadViaServer(url, opts, bar, controller.signal)
          : await downloadInProcess(url, opts, bar, controller.signal);
        process.stdout.write(`${file}\n`);
        process.exit(0);
      } catch (err) {
        bar.clear();
        if (controller.signal.aborted || err instanceof Cancelled) {
          process.stderr.write('download cancelled\n');
          process.exit(130);
        }
        throw err;
      }
    });
}
