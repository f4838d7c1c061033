/**
 * Subtitles end to end: tracks listed by yt-dlp (an HTML5 page with <track>
 * elements on the local media server) and by the native BiliBili extractor
 * (recorded answers, its JSON subtitles served by the replay server) are
 * fetched, embedded with their language tags or stored as sidecar files the
 * API serves. Results are checked with plain ffprobe/ffmpeg runs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bccToVtt, chooseSubtitles, sidecarKey, subtitleRecordOf } from '../../src/delivery/subtitles.js';
import { resolveOptions } from '../../src/delivery/options.js';
import { selectFormats } from '../../src/delivery/select-formats.js';
import type { Subtitle, VideoInfo } from '../../src/extract/model.js';
import { createTestUser } from '../support/auth.js';
import { makeMedia, type MediaFile } from '../support/media.js';
import { startMediaServer, type MediaServer } from '../support/media-server.js';
import { startReplayServer, type ReplayServer } from '../support/replay-server.js';
import { serveFile } from '../support/serve-file.js';
import { startTestServer, type TestServer } from '../support/server.js';

const run = promisify(execFile);
type Task = Record<string, any>;

const EN_VTT =
  'WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello from the English track\n\n00:00:01.000 --> 00:00:02.500\nSecond cue\n';
const DE_SRT = '1\n00:00:00,000 --> 00:00:01,200\nHallo aus der deutschen Spur\n';
const PAGE = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Subtitled clip</title></head><body>
<video controls src="clip.mp4">
  <track kind="subtitles" src="en.vtt" srclang="en" label="English">
  <track kind="captions" src="de.srt" srclang="de" label="Deutsch">
  <track kind="subtitles" src="gone.vtt" srclang="es" label="Español">
</video>
</body></html>
`;

let mediaDir: string;
let clip: MediaFile;
let videoOnly: MediaFile;
let audioOnly: MediaFile;
let media: MediaServer;
let replay: ReplayServer;
let server: TestServer;

beforeAll(async () => {
  mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-subs-'));
  [clip, videoOnly, audioOnly] = await Promise.all([
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' }),
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'video', container: 'mp4' }),
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'audio', container: 'm4a' }),
  ]);
  await Promise.all([
    copyFile(clip.path, path.join(mediaDir, 'clip.mp4')),
    writeFile(path.join(mediaDir, 'en.vtt'), EN_VTT),
    writeFile(path.join(mediaDir, 'de.srt'), DE_SRT),
    writeFile(path.join(mediaDir, 'page.html'), PAGE),
  ]);
  media = await startMediaServer(mediaDir);
  replay = await startReplayServer();
  server = await startTestServer('embedded', { ALLOW_PRIVATE_ADDRESSES: 'true', YTBH_UPSTREAM_REWRITE: replay.url });
});

afterAll(async () => {
  await server?.close();
  await media?.stop();
  await replay?.stop();
  rmSync(mediaDir, { recursive: true, force: true });
});

async function create(body: unknown): Promise<Task> {
  const res = await server.fetch(`${server.url}/api/v2/downloads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const task = (await res.json()) as Task;
  expect(res.status, JSON.stringify(task)).toBe(202);
  return task;
}

async function finished(id: string, timeoutMs = 90_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = (await (await server.fetch(`${server.url}/api/v2/downloads/${id}`)).json()) as Task;
    if (t.status === 'completed' || t.status === 'failed' || t.status === 'cancelled') return t;
    if (Date.now() > deadline) throw new Error(`task ${id} stayed ${t.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The finished file, saved locally for ffprobe. */
async function fetchMedia(task: Task): Promise<string> {
  const res = await server.fetch(`${server.url}${task.file_url}`);
  expect(res.status).toBe(200);
  const file = path.join(mediaDir, `result-${task.id}.${task.format}`);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

interface Stream {
  index: number;
  codec_type: string;
  codec_name: string;
  tags?: Record<string, string>;
}

async function streams(file: string): Promise<Stream[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_streams', file]);
  return (JSON.parse(stdout) as { streams: Stream[] }).streams;
}

/** The text of the nth subtitle stream, as SRT (ffmpeg, not the code under test). */
async function subtitleText(file: string, n: number): Promise<string> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', file, '-map', `0:s:${n}`, '-f', 'srt', '-']);
  return stdout;
}

describe('choosing tracks', () => {
  const sub = (ext: string, extra: Partial<Subtitle> = {}): Subtitle => ({
    url: `https://x.test/s.${ext}`,
    ext,
    ...extra,
  });

  it('matches exact tags, then regional and machine variants, then the bare language; hand-made first', () => {
    const available: Record<string, Subtitle[]> = {
      'en-US': [sub('vtt')],
      'ai-zh': [sub('json', { auto: true })],
      'zh-CN': [sub('json')],
      pt: [sub('srt')],
      de: [sub('ttml'), sub('srv3')], // nothing we can read
      fr: [sub('ass'), sub('vtt', { auto: true }), sub('srt')],
    };
    const { chosen, missing } = chooseSubtitles(available, ['EN', 'zh', 'pt_BR', 'de', 'fr', 'ja', 'en']);
    expect(chosen.map((c) => [c.language, c.track, c.subtitle.ext])).toEqual([
      ['EN', 'en-US', 'vtt'],
      ['zh', 'zh-CN', 'json'],
      ['pt_BR', 'pt', 'srt'],
      ['fr', 'fr', 'srt'],
    ]);
    // `en` asked twice (in two spellings) is fetched once.
    expect(missing).toEqual(['de', 'ja']);
    expect(chooseSubtitles(undefined, ['en'])).toEqual({ chosen: [], missing: ['en'] });
  });

  it('turns BiliBili JSON into escaped WebVTT and refuses what is not that JSON', () => {
    const vtt = bccToVtt({
      body: [
        { from: 0.5, to: 2, content: 'a <b>bold</b> & --> claim' },
        { from: 3661.25, to: 3662, content: 'line one\nline two' },
        { from: 5, to: 4, content: 'backwards: dropped' },
        { from: 'x', to: 1, content: 'no number: dropped' },
      ],
    });
    expect(vtt).toBe(
      'WEBVTT\n\n00:00:00.500 --> 00:00:02.000\na &lt;b&gt;bold&lt;/b&gt; &amp; --&gt; claim\n\n' +
        '01:01:01.250 --> 01:01:02.000\nline one\nline two\n',
    );
    expect(bccToVtt({ body: [] })).toBeNull();
    expect(bccToVtt({ nope: 1 })).toBeNull();
    expect(bccToVtt(null)).toBeNull();
  });

  it('names a sidecar after the media file', () => {
    expect(sidecarKey('downloads/u/2024/05/abc.1234abcd.mp4', 'pt-BR', 'srt')).toBe(
      'downloads/u/2024/05/abc.1234abcd.pt-BR.srt',
    );
  });
});

describe('subtitles through the download pipeline', () => {
  const page = () => `${media.url}/page.html`;

  it('embeds the tracks a yt-dlp page lists, with language tags; missing and broken ones are reported', async () => {
    const created = await create({
      url: page(),
      options: { format: 'mp4', subtitles: { languages: ['en', 'de', 'fr', 'es'], mode: 'embed' } },
    });
    const done = await finished(created.id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    // fr is not offered; es is listed but its file is a 404.
    expect(done.subtitles).toEqual({
      mode: 'embed',
      requested: ['en', 'de', 'fr', 'es'],
      embedded: ['en', 'de'],
      files: [],
      missing: ['fr', 'es'],
    });
    expect(media.requests.get('/en.vtt')).toBeGreaterThanOrEqual(1);
    expect(media.requests.get('/gone.vtt')).toBeGreaterThanOrEqual(1);

    const file = await fetchMedia(done);
    const subs = (await streams(file)).filter((s) => s.codec_type === 'subtitle');
    expect(subs.map((s) => [s.codec_name, s.tags?.language])).toEqual([
      ['mov_text', 'eng'],
      ['mov_text', 'deu'],
    ]);
    expect(await subtitleText(file, 0)).toContain('Hello from the English track');
    expect(await subtitleText(file, 1)).toContain('Hallo aus der deutschen Spur');
  });

  it('stores sidecar files next to the media and serves them; other users and unknown languages get 404', async () => {
    const created = await create({
      url: page(),
      options: { format: 'mkv', subtitles: { languages: ['de', 'en', 'ja'], mode: 'sidecar' } },
    });
    const done = await finished(created.id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.subtitles.mode).toBe('sidecar');
    expect(done.subtitles.embedded).toEqual([]);
    expect(done.subtitles.missing).toEqual(['ja']);
    expect(done.subtitles.files).toEqual([
      { language: 'de', format: 'srt', size: expect.any(Number), url: `/api/v2/downloads/${done.id}/subtitles/de` },
      { language: 'en', format: 'vtt', size: expect.any(Number), url: `/api/v2/downloads/${done.id}/subtitles/en` },
    ]);

    const en = await server.fetch(`${server.url}${done.subtitles.files[1].url}`);
    expect(en.status).toBe(200);
    expect(en.headers.get('content-type')).toBe('text/vtt; charset=utf-8');
    expect(en.headers.get('content-disposition')).toMatch(/^attachment; filename=".+\.en\.vtt"/);
    const enText = await en.text();
    expect(enText).toMatch(/^WEBVTT/);
    expect(enText).toContain('Hello from the English track');
    expect(enText.length).toBe(done.subtitles.files[1].size);
    const de = await server.fetch(`${server.url}${done.subtitles.files[0].url}`);
    expect(de.headers.get('content-type')).toBe('application/x-subrip; charset=utf-8');
    expect(await de.text()).toMatch(/00:00:00,000 --> 00:00:01,200\r?\nHallo aus der deutschen Spur/);

    // Next to the media file in storage, and not inside it.
    const row = await server.services.database.db
      .selectFrom('download_tasks')
      .select(['file_path', 'selected_formats'])
      .where('id', '=', done.id)
      .executeTakeFirstOrThrow();
    expect(await server.services.storage.stat(sidecarKey(row.file_path!, 'en', 'vtt'))).toMatchObject({
      size: done.subtitles.files[1].size,
    });
    expect(subtitleRecordOf(row.selected_formats)?.files.map((f) => f.language)).toEqual(['de', 'en']);
    expect((await streams(await fetchMedia(done))).filter((s) => s.codec_type === 'subtitle')).toEqual([]);

    const ja = await server.fetch(`${server.url}/api/v2/downloads/${done.id}/subtitles/ja`);
    expect(ja.status).toBe(404);
    expect(((await ja.json()) as Task).error.code).toBe('not_found');
    const bad = await server.fetch(`${server.url}/api/v2/downloads/${done.id}/subtitles/${encodeURIComponent('../x')}`);
    expect(bad.status).toBe(400);
    const other = await createTestUser(server.services, 'user');
    expect((await other.fetch(`${server.url}${done.subtitles.files[1].url}`)).status).toBe(404);
    expect((await fetch(`${server.url}${done.subtitles.files[1].url}`)).status).toBe(401);
  });

  it('audio-only downloads take subtitles as sidecars only', async () => {
    const created = await create({
      url: page(),
      options: { format: 'm4a', subtitles: { languages: ['en'], mode: 'embed' } },
    });
    expect(created.options.subtitles).toEqual({ languages: ['en'], mode: 'sidecar' });
    const done = await finished(created.id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.subtitles).toMatchObject({ mode: 'sidecar', embedded: [], missing: [] });
    expect(done.subtitles.files.map((f: Task) => [f.language, f.format])).toEqual([['en', 'vtt']]);
    const kinds = (await streams(await fetchMedia(done))).map((s) => s.codec_type);
    expect(kinds).toEqual(['audio']);
  });

  it('embeds BiliBili’s JSON subtitles from the native extractor, hand-made before automatic', async () => {
    const pageUrl = 'https://www.bilibili.com/video/BV1Et4y1r7Eu';
    const info = (await (
      await server.fetch(`${server.url}/api/v2/videos/info?url=${encodeURIComponent(pageUrl)}`)
    ).json()) as VideoInfo;
    expect(Object.keys(info.subtitles ?? {})).toEqual(['zh-CN', 'ai-zh']);
    const chosen = selectFormats(info.formats, resolveOptions({ quality: '360', video_codec: 'h264' }));
    for (const [format, file] of [
      [chosen.video!, videoOnly],
      [chosen.audio!, audioOnly],
    ] as const) {
      const u = new URL(format.url);
      replay.add({
        name: `media:${format.format_id}`,
        method: 'GET',
        host: u.host,
        path: u.pathname,
        handler: (req, res) => serveFile(file.path, req, res),
      });
    }
    const cues = (text: string) => JSON.stringify({ body: [{ from: 0.2, to: 1.8, content: text }] });
    for (const [lang, text] of [
      ['zh-CN', '人工字幕：骁龙888'],
      ['ai-zh', '自动生成的字幕'],
    ] as const) {
      const u = new URL(info.subtitles![lang]![0]!.url);
      replay.add({ name: `subtitle:${lang}`, method: 'GET', host: u.host, path: u.pathname, body: cues(text) });
    }

    const created = await create({
      url: pageUrl,
      options: { quality: '360', video_codec: 'h264', format: 'mkv', subtitles: { languages: ['zh'], mode: 'embed' } },
    });
    const done = await finished(created.id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.subtitles).toMatchObject({ embedded: ['zh'], missing: [] });
    expect(replay.hitCount('subtitle:zh-CN')).toBe(1);
    expect(replay.hitCount('subtitle:ai-zh')).toBe(0);

    const file = await fetchMedia(done);
    const subs = (await streams(file)).filter((s) => s.codec_type === 'subtitle');
    expect(subs.map((s) => [s.codec_name, s.tags?.language])).toEqual([['subrip', 'zh']]);
    expect(await subtitleText(file, 0)).toContain('人工字幕：骁龙888');
  });
});
