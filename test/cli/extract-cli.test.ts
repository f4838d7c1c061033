/**
 * `ytbh info` and `ytbh formats` as a user runs them: the CLI from sources
 * in a child process, platform requests answered by the replay server.
 * stdout carries only the result; logs and errors go to stderr.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoInfo } from '../../src/extract/model.js';
import { FIXTURES_DIR, startReplayServer, type ReplayServer } from '../support/replay-server.js';
import { spawnCli, type ChildServer } from '../support/server.js';

const BV = 'BV1Et4y1r7Eu';
const BV_URL = `https://www.bilibili.com/video/${BV}`;
const fixture = (file: string) => JSON.parse(readFileSync(path.join(FIXTURES_DIR, file), 'utf8'));
const view = fixture(`bilibili/api/${BV}.x-web-interface-view.json`).data;
const play = fixture(`bilibili/api/${BV}.x-player-wbi-playurl.json`).data;
const BILI_FORMATS = play.dash.video.length + play.dash.audio.length;

const YT_ID = '7PIMiDcwNvc';
const ytTitle = fixture(`youtube/innertube-2026/${YT_ID}.visionos.player.response.json`).videoDetails.title as string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let replay: ReplayServer;
const runs: Record<string, Promise<Run>> = {};

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child: ChildServer = spawnCli(args, { YTBH_UPSTREAM_REWRITE: replay.url, ...env });
  return child.closed.then((code) => ({ code, stdout: child.stdout(), stderr: child.stderr() }));
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+:\d+/);

beforeAll(async () => {
  // YouTube: youtubei.js sends its own client versions.
  replay = await startReplayServer([], ['body.context.client.clientVersion']);
  // The CLI starts in a few seconds each; run them side by side.
  // debug: the YouTube engine logs each player response, which must not reach stdout
  runs.json = run(['info', BV_URL, '--json'], { LOG_LEVEL: 'debug' });
  runs.summary = run(['info', `https://youtu.be/${YT_ID}?si=share`], { LOG_LEVEL: 'debug' });
  runs.formats = run(['formats', `https://www.bilibili.com/video/av${view.aid}`]);
  runs.invalid = run(['info', 'ftp://x']);
  runs.missing = run(['formats', 'https://www.bilibili.com/video/BV1UnExisted']);
  await Promise.allSettled(Object.values(runs));
});

afterAll(async () => {
  await replay?.stop();
});

describe('ytbh info', () => {
  it('--json prints the VideoInfo JSON and nothing else on stdout', async () => {
    const r = await runs.json!;
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout) as VideoInfo; // the whole of stdout is one JSON document
    expect(r.stdout.endsWith('}\n')).toBe(true);
    expect(info).toMatchObject({
      platform: 'bilibili',
      id: BV,
      url: BV_URL,
      title: '骁龙888性能分析：翻车！',
      duration: 942,
      uploader: view.owner.name,
      upload_date: '2021-01-07',
      view_count: view.stat.view,
      is_live: false,
      extractor: 'bilibili',
    });
    expect(info.title).toBe(view.title);
    expect(info.formats).toHaveLength(BILI_FORMATS);
    for (const f of info.formats) expect(f.http_headers).toMatchObject({ Referer: 'https://www.bilibili.com' });
    noStackTrace(r.stderr);
  });

  it('without --json prints a readable summary', async () => {
    const r = await runs.summary!;
    expect(r.code, r.stderr).toBe(0);
    expect(() => JSON.parse(r.stdout)).toThrow();
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(ytTitle);
    expect(lines.slice(1).map((l) => l.trim())).toEqual(
      expect.arrayContaining([
        'platform:  youtube (youtube)',
        `id:        ${YT_ID}`,
        `url:       https://www.youtube.com/watch?v=${YT_ID}`,
        'duration:  6:21',
        'uploader:  PewDiePie',
        'uploaded:  2019-08-24',
        'formats:   23',
      ]),
    );
    // the logs went to stderr
    expect(r.stderr).toContain('youtube: player response');
    expect(r.stdout).not.toContain('youtube: player response');
  });

  it('an invalid URL exits non-zero with a readable message and no stack trace', async () => {
    const r = await runs.invalid!;
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe('error (invalid_url): Only http and https URLs are supported');
    noStackTrace(r.stderr);
  });
});

describe('ytbh formats', () => {
  it('prints the title and one table row per format, in order', async () => {
    const [r, json] = await Promise.all([runs.formats!, runs.json!]);
    expect(r.code, r.stderr).toBe(0);
    const expected = (JSON.parse(json.stdout) as VideoInfo).formats;

    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(view.title); // the av form is the same video
    expect(lines[1]).toBe('');
    expect(lines[2]).toMatch(/^ID\s+EXT\s+RESOLUTION\s+FPS\s+FILESIZE\s+TBR\s+PROTO\s+VCODEC\s+ACODEC\s+MORE INFO$/);
    expect(lines[3]).toMatch(/^-+( +-+)+$/);
    const rows = lines.slice(4);
    expect(rows).toHaveLength(BILI_FORMATS);
    expect(rows.map((row) => row.split(/\s+/)[0])).toEqual(expected.map((f) => f.format_id));
    rows.forEach((row, i) => {
      const f = expected[i]!;
      const cells = row.split(/\s{2,}/);
      expect(cells[1]).toBe(f.ext);
      if (f.kind === 'audio') expect(row).toContain('audio only');
      else expect(cells[2]).toBe(`${f.width}x${f.height}`);
      expect(row).toContain(f.protocol);
    });
  });

  it('a video that does not exist exits non-zero with the platform’s reason', async () => {
    const r = await runs.missing!;
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('error (not_found): ');
    noStackTrace(r.stderr);
  });
});
