/**
 * Runs yt-dlp (and other media tools) as child processes: never through a
 * shell, with a hard deadline (SIGKILL), bounded output, and an abort signal,
 * so a hung or chatty extractor can neither stall nor exhaust the service.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { AppError } from '../../errors/app-error.js';
import { proxyEnv } from '../../infra/http-client/egress-proxy.js';
import { parseUserUrl } from '../../infra/http-client/ssrf-guard.js';
import { ytdlpError } from './errors.js';
import { cookieArgs, withCookieFile } from '../cookies/cookie-file.js';
import type { Cookie } from '../cookies/netscape.js';

export const MAX_STDOUT_BYTES = 32 * 1024 * 1024;
const MAX_STDERR_CHARS = 64 * 1024;

export interface ProcessOptions {
  timeoutMs: number;
  /** limit on the whole of stdout; with `onStdoutLine`, on any one line (characters) instead */
  maxStdoutBytes?: number;
  signal?: AbortSignal;
  /**
   * Streams stdout line by line (UTF-8, without the line ending) instead of
   * buffering it: the result's `stdout` is then ''. For long-running tools that
   * report progress. A callback that throws kills the process, which rejects
   * with that error.
   */
  onStdoutLine?: (line: string) => void;
  /** Test hook: learns the child's pid (to check it is gone afterwards). */
  onSpawn?: (pid: number) => void;
  /** added to (or replacing) the inherited environment */
  env?: Record<string, string>;
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  /** the last 64 KiB of stderr */
  stderr: string;
}

/**
 * Runs a command to completion. Resolves with any exit code; rejects with an
 * AppError when it cannot start, overruns its deadline or output limit, or is
 * aborted, and only once the process has actually exited.
 */
export function runProcess(command: string, args: string[], opts: ProcessOptions): Promise<ProcessResult> {
  const name = path.basename(command);
  const maxStdout = opts.maxStdoutBytes ?? MAX_STDOUT_BYTES;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(abortReason(opts.signal));
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let failure: Error | undefined;

    const kill = (err: Error): void => {
      failure ??= err;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () =>
        kill(
          new AppError('upstream_timeout', `${name} timed out after ${opts.timeoutMs} ms`, {
            timeoutMs: opts.timeoutMs,
          }),
        ),
      opts.timeoutMs,
    );
    const onAbort = (): void => kill(abortReason(opts.signal!));
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const onLine = opts.onStdoutLine;
    const decoder = new StringDecoder('utf8');
    let partial = '';
    const emitLines = (text: string, final: boolean): void => {
      const lines = (partial + text).split('\n');
      // The piece after the last newline is an unfinished line; at the end it is the last line, if any.
      partial = lines.pop()!;
      if (final && partial) lines.push(partial);
      if (final) partial = '';
      for (const line of lines) {
        if (failure) return;
        try {
          onLine!(line.endsWith('\r') ? line.slice(0, -1) : line);
        } catch (err) {
          kill(err instanceof Error ? err : new Error(String(err)));
        }
      }
      if (partial.length > maxStdout) {
        kill(new AppError('upstream_error', `${name} printed a line longer than ${maxStdout} characters`));
      }
    };

    child.stdout.on('data', (chunk: Buffer) => {
      if (onLine) {
        if (!failure) emitLines(decoder.write(chunk), false);
        return;
      }
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdout) {
        kill(new AppError('upstream_error', `${name} produced more than ${maxStdout} bytes of output`));
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-MAX_STDERR_CHARS);
    });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);

    const done = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      done();
      const missing = err.code === 'ENOENT';
      reject(
        new AppError('internal_error', missing ? `${name} is not installed` : `${name} could not be started`, {
          command: name,
          code: err.code,
        }),
      );
    });
    // 'close' (not 'exit') so every byte of output has been read.
    child.on('close', (code) => {
      done();
      if (onLine && !failure) emitLines(decoder.end(), true);
      if (failure) reject(failure);
      else resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr });
    });
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new AppError('upstream_error', 'The request was aborted');
}

export function resolveYtdlpPath(explicit?: string): string {
  return explicit || process.env.YTDLP_PATH || 'yt-dlp';
}

export interface YtdlpRunOptions extends ProcessOptions {
  ytdlpPath?: string;
  /** per-connection timeout handed to yt-dlp; defaults to the whole deadline */
  socketTimeoutS?: number;
  /** Handed over as `--cookies` in a private temporary file, removed when yt-dlp exits. */
  cookies?: readonly Cookie[];
  /** Every connection yt-dlp (and the ffmpeg it may start) makes goes through this proxy (the guarded egress proxy). */
  proxy?: string;
}

/** yt-dlp's arguments and environment for going through `proxy` (none without one). */
export function ytdlpProxy(proxy: string | undefined): { args: string[]; env?: Record<string, string> } {
  return proxy ? { args: ['--proxy', proxy], env: proxyEnv(proxy) } : { args: [] };
}

/**
 * Runs `yt-dlp ARGS -- URL` and returns stdout; a failed run becomes the
 * AppError its stderr describes. Only http(s) URLs get this far, and configs
 * are ignored, so nothing on the command line can make yt-dlp read local files.
 */
export async function runYtdlp(rawUrl: string, args: string[], opts: YtdlpRunOptions): Promise<string> {
  const url = parseUserUrl(rawUrl);
  const socketTimeoutS = opts.socketTimeoutS ?? Math.max(1, Math.ceil(opts.timeoutMs / 1000));
  return withCookieFile(opts.cookies, async (cookieFile) => {
    const proxy = ytdlpProxy(opts.proxy);
    const fullArgs = [
      '--ignore-config', // alias --no-config: no user/system/portable config file is loaded
      '--no-warnings',
      '--socket-timeout',
      String(socketTimeoutS),
      ...proxy.args,
      ...cookieArgs(cookieFile),
      ...args,
      '--', // the URL can never be parsed as an option
      url.href,
    ];
    const res = await runProcess(resolveYtdlpPath(opts.ytdlpPath), fullArgs, {
      ...opts,
      ...(proxy.env ? { env: { ...opts.env, ...proxy.env } } : {}),
    });
    if (res.code !== 0) throw ytdlpError(res.stderr);
    return res.stdout;
  });
}

/** `runYtdlp` for `-J` modes: parses the single JSON document it prints. */
export async function runYtdlpJson(
  rawUrl: string,
  args: string[],
  opts: YtdlpRunOptions,
): Promise<Record<string, unknown>> {
  const stdout = await runYtdlp(rawUrl, ['-J', ...args], opts);
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new AppError('upstream_error', 'yt-dlp printed invalid JSON');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new AppError('upstream_error', 'yt-dlp returned no information for the URL');
  }
  return json as Record<string, unknown>;
}
