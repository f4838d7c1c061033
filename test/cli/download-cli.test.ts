/**
 * `ytbh download` as a user runs it: the CLI from sources in a child process,
 * generated clips on a local media server. In-process mode runs the whole
 * pipeline in the CLI; --server mode goes through a server started here.
 * stdout carries only the final path; progress and errors go to stderr.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMedia, type MediaFile } from '../support/media.js';
import { pageTitle, startMediaServer, type MediaServer } from '../support/media-server.js';
import { spawnCli, startTestServer, type ChildServer, type TestServer } from '../support/server.js';
import { probeMedia } from '../../src/media/ffmpeg.js';
import { ProgressBar, formatBytes, formatEta, renderLine } from '../../src/cli/progress-bar.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  out: string;
}

let tmp: string;
let clip: MediaFile;
let media: MediaServer;
let server: TestServer;
const runs: Record<string, Promise<Run>> = {};

const dir = (name: string): string => path.join(tmp, name);

function download(name: string, args: string[], env: Record<string, string> = {}): ChildServer {
  return spawnCli(['download', ...args, '-o', dir(`out-${name}`)], {
    ALLOW_PRIVATE_ADDRESSES: 'true',
    DATA_DIR: dir(`data-${name}`),
    LOG_LEVEL: 'warn',
    ...env,
  });
}

function run(name: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = download(name, args, env);
  return child.closed.then((code) => ({
    code,
    stdout: child.stdout(),
    stderr: child.stderr(),
    out: dir(`out-${name}`),
  }));
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+:\d+/);

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ytbh-dlcli-'));
  const mediaDir = dir('media');
  clip = await makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' });
  copyFileSync(clip.path, path.join(mediaDir, 'slow.mp4'));
  media = await startMediaServer(mediaDir, { paths: { '/slow.mp4': { throttleBytesPerSec: 10_000 } } });
  server = await startTestServer('embedded', { ALLOW_PRIVATE_ADDRESSES: 'true' });
  // Each CLI run takes a few seconds to start: run them side by side (each with its own DATA_DIR).
  const page = `${media.url}/page/${clip.name.replace(/\.mp4$/, '')}.html`;
  runs.video = run('video', [page, '-q', '720', '-f', 'mp4']);
  runs.audio = run('audio', [`${media.url}/${clip.name}`, '--audio-only', '-f', 'mp3']);
  runs.missing = run('missing', [`${media.url}/missing.mp4`]);
  runs.server = run('server', [page, '--server', server.url, '--token', server.owner.apiKey, '-f', 'mkv']);
  runs.cancel = interrupted('cancel', [`${media.url}/slow.mp4`]);
  runs.badq = run('badq', [`${media.url}/${clip.name}`, '-q', '9999']);
  runs.unreachable = run('unreachable', [`${media.url}/${clip.name}`, '--server', 'http://127.0.0.1:9']);
  await Promise.allSettled(Object.values(runs));
}, 480_000);

/** Starts a download, sends SIGINT once it is transferring, and reports how the CLI ended. */
async function interrupted(name: string, args: string[]): Promise<Run> {
  const child = download(name, args);
  const deadline = Date.now() + 400_000;
  while (!/downloading/.test(child.stderr()) && child.proc.exitCode === null && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  child.proc.kill('SIGINT');
  const code = await child.closed;
  return { code, stdout: child.stdout(), stderr: child.stderr(), out: dir(`out-${name}`) };
}

afterAll(async () => {
  await server?.close();
  await media?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('ytbh download (in this process)', () => {
  it('downloads a clip into -o under its title and prints only the path', async () => {
    const r = await runs.video!;
    expect(r.code, r.stderr).toBe(0);
    const files = readdirSync(r.out);
    expect(files).toHaveLength(1);
    const file = path.join(r.out, files[0]!);
    expect(r.stdout).toBe(`${file}\n`);
    expect(files[0]).toMatch(/\.mp4$/);
    expect(files[0]).toContain(pageTitle(clip.name.replace(/\.mp4$/, '')));
    const probe = await probeMedia(file);
    expect(probe.video?.width).toBe(320);
    expect(probe.audio).toBeTruthy();
    expect(probe.duration).toBeGreaterThan(2.8);
    // Progress went to stderr, ending at 100 %.
    expect(r.stderr).toMatch(/100\.0%.*completed/);
  });

  it('--audio-only -f mp3 makes an mp3', async () => {
    const r = await runs.audio!;
    expect(r.code, r.stderr).toBe(0);
    const file = r.stdout.trim();
    expect(path.dirname(file)).toBe(r.out);
    expect(file).toMatch(/\.mp3$/);
    expect(existsSync(file)).toBe(true);
    const probe = await probeMedia(file);
    expect(probe.video).toBeNull();
    expect(probe.audio?.codec).toBe('mp3');
    expect(probe.duration).toBeGreaterThan(2.5);
  });

  it('fails with a readable message and exit 1 for a URL that is not there', async () => {
    const r = await runs.missing!;
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/error \((not_found|unsupported_url)\): .+/);
    noStackTrace(r.stderr);
    expect(existsSync(r.out) ? readdirSync(r.out) : []).toEqual([]);
  });

  it('rejects an invalid quality before doing anything', async () => {
    const r = await runs.badq!;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/quality.*Expected one of best/s);
    expect(r.stdout).toBe('');
  });

  it('cancels cleanly on Ctrl-C', async () => {
    const r = await runs.cancel!;
    expect(r.stderr).toMatch(/downloading/);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/cancelled/);
    expect(r.stdout).toBe('');
    expect(existsSync(r.out) ? readdirSync(r.out) : []).toEqual([]);
    // The work directory (partial files) is gone.
    const work = path.join(dir('data-cancel'), 'work');
    expect(existsSync(work) ? readdirSync(work) : []).toEqual([]);
  });
});

describe('ytbh download --server', () => {
  it('submits to the server, follows its events and fetches the file', async () => {
    const r = await runs.server!;
    expect(r.code, r.stderr).toBe(0);
    const file = r.stdout.trim();
    expect(r.stdout).toBe(`${file}\n`);
    expect(path.dirname(file)).toBe(r.out);
    expect(file).toMatch(/\.mkv$/);
    expect(path.basename(file)).toContain(pageTitle(clip.name.replace(/\.mp4$/, '')));
    const probe = await probeMedia(file);
    expect(probe.video?.width).toBe(320);
    expect(probe.duration).toBeGreaterThan(2.8);
    // The server has the task, completed.
    const list = (await (await server.fetch(`${server.url}/api/v2/downloads?status=completed`)).json()) as {
      items: { format: string }[];
    };
    expect(list.items.map((t) => t.format)).toContain('mkv');
    // The CLI did not need a local database for this.
    expect(existsSync(path.join(dir('data-server'), 'pgdata'))).toBe(false);
  });

  it('reports a server that cannot be reached', async () => {
    const r = await runs.unreachable!;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Could not reach http:\/\/127\.0\.0\.1:9/);
    noStackTrace(r.stderr);
  });
});

describe('progress bar', () => {
  const state = {
    status: 'downloading',
    progress: 45.25,
    bytesDone: 3 * 1024 * 1024,
    bytesTotal: 8 * 1024 * 1024,
    speedBps: 1.5 * 1024 * 1024,
    etaSeconds: 75,
  };

  it('renders percent, speed and ETA on one line', () => {
    const line = renderLine(state);
    expect(line).toMatch(/^\[#{7}\.{9}\]\s+45\.3%\s+1\.50 MiB\/s\s+ETA 01:15\s+downloading 3\.00 MiB\/8\.00 MiB$/);
    expect(line.length).toBeLessThan(80);
    // Narrow terminals lose the byte counts first, then the line is cut.
    expect(renderLine(state, 70)).toMatch(/ETA 01:15\s+downloading$/);
    expect(renderLine(state, 30)).toHaveLength(29);
    expect(formatBytes(512)).toBe('512 B');
    expect(formatEta(3725)).toBe('1:02:05');
    expect(formatEta(null)).toBe('--:--');
  });

  it('redraws one line on a TTY and prints throttled lines otherwise', () => {
    const written: string[] = [];
    const tty = new ProgressBar({ isTTY: true, columns: 100, write: (s: string) => written.push(s) });
    tty.update(state);
    tty.update({ ...state, progress: 50 });
    tty.finish();
    expect(written[0]).toMatch(/^\r\[.*\x1b\[K$/);
    expect(written.at(-1)).toBe('\n');

    const lines: string[] = [];
    let now = 0;
    const plain = new ProgressBar({ write: (s: string) => lines.push(s) }, { plainIntervalMs: 2000, now: () => now });
    plain.update(state);
    now = 500;
    plain.update({ ...state, progress: 50 }); // too soon: skipped
    now = 2500;
    plain.update({ ...state, progress: 60 });
    now = 2600;
    plain.update({ ...state, status: 'processing', progress: 90 }); // a new status: always printed
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/^\[[#.]+\].*\n$/);
    expect(lines.join('')).not.toContain('\r');
  });
});
