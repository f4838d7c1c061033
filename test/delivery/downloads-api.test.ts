import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMedia, type MediaFile } from '../support/media.js';
import { startMediaServer, type MediaServer } from '../support/media-server.js';
import { startReplayServer, type ReplayServer } from '../support/replay-server.js';
import { startTestServer, type Backend, type TestServer } from '../support/server.js';
import { probeMedia } from '../../src/media/ffmpeg.js';
import { selectFormats } from '../../src/delivery/select-formats.js';
import { resolveOptions } from '../../src/delivery/options.js';
import { workDir } from '../../src/delivery/pipeline.js';
import type { VideoInfo } from '../../src/extract/model.js';
import { serveFile } from '../support/serve-file.js';

type Task = Record<string, any>;
const json = { 'content-type': 'application/json' };

let mediaDir: string;
let clip: MediaFile;
let videoOnly: MediaFile;
let audioOnly: MediaFile;
let media: MediaServer;
let replay: ReplayServer;

beforeAll(async () => {
  mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-dl-'));
  [clip, videoOnly, audioOnly] = await Promise.all([
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' }),
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'video', container: 'mp4' }),
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'audio', container: 'm4a' }),
  ]);
  copyFileSync(clip.path, path.join(mediaDir, 'slow.mp4'));
  media = await startMediaServer(mediaDir, { paths: { '/slow.mp4': { throttleBytesPerSec: 20_000 } } });
  replay = await startReplayServer();
});
afterAll(async () => {
  await media?.stop();
  await replay?.stop();
  rmSync(mediaDir, { recursive: true, force: true });
});

const sha = (buf: Buffer | Uint8Array) => createHash('sha256').update(buf).digest('hex');

async function create(server: TestServer, body: unknown) {
  const res = await server.fetch(`${server.url}/api/v2/downloads`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify(body),
  });
  return { status: res.status, location: res.headers.get('location'), body: (await res.json()) as Task };
}

async function waitFor(server: TestServer, id: string, statuses: string[], timeoutMs = 60_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = (await (await server.fetch(`${server.url}/api/v2/downloads/${id}`)).json()) as Task;
    if (statuses.includes(t.status)) return t;
    if (Date.now() > deadline) throw new Error(`task ${id} stayed ${t.status}: ${JSON.stringify(t.error)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.each(['embedded', 'distributed'] as Backend[])('downloads (%s)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend, { ALLOW_PRIVATE_ADDRESSES: 'true', YTBH_UPSTREAM_REWRITE: replay.url });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('downloads a progressive MP4 end to end and serves it with Range, ETag and a UTF-8 name', async () => {
    const created = await create(server, { url: `${media.url}/${clip.name}` });
    expect(created.status).toBe(202);
    expect(created.location).toBe(`/api/v2/downloads/${created.body.id}`);
    expect(created.body).toMatchObject({ status: 'queued', platform: 'generic', quality: 'best', format: 'mp4' });

    const again = await create(server, { url: `${media.url}/${clip.name}` });
    expect([200, 202]).toContain(again.status);
    if (again.body.status !== 'completed') expect(again.body.id).toBe(created.body.id);

    const done = await waitFor(server, created.body.id, ['completed', 'failed']);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    expect(done.progress).toBe(100);
    expect(done.selected_formats.muxed.format_id).toBeTruthy();
    expect(done.file_url).toBe(`/api/v2/downloads/${done.id}/file`);
    expect(existsSync(workDir(server.dataDir, done.id))).toBe(false);

    const file = await server.fetch(`${server.url}${done.file_url}`);
    expect(file.status).toBe(200);
    const bytes = Buffer.from(await file.arrayBuffer());
    expect(bytes.length).toBe(done.file_size);
    expect(file.headers.get('content-type')).toBe('video/mp4');
    expect(file.headers.get('accept-ranges')).toBe('bytes');
    expect(file.headers.get('content-disposition')).toMatch(
      /^attachment; filename=".+\.mp4"; filename\*=UTF-8''.+\.mp4$/,
    );
    const etag = file.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);

    const part = await server.fetch(`${server.url}${done.file_url}`, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${bytes.length}`);
    expect(sha(Buffer.from(await part.arrayBuffer()))).toBe(sha(bytes.subarray(100, 200)));
    const tail = await server.fetch(`${server.url}${done.file_url}`, { headers: { range: 'bytes=-10' } });
    expect(sha(Buffer.from(await tail.arrayBuffer()))).toBe(sha(bytes.subarray(bytes.length - 10)));
    const bad = await server.fetch(`${server.url}${done.file_url}`, { headers: { range: `bytes=${bytes.length}-` } });
    expect(bad.status, await bad.clone().text()).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
    const cached = await server.fetch(`${server.url}${done.file_url}`, { headers: { 'if-none-match': etag } });
    expect(cached.status).toBe(304);

    const probe = await probeMedia(await saveTemp(bytes, 'mp4'));
    expect(probe.duration).toBeGreaterThan(2.8);
    expect(probe.video?.width).toBe(320);
    expect(probe.audio).toBeTruthy();

    const task = await server.services.database.db
      .selectFrom('download_tasks')
      .select('file_path')
      .where('id', '=', done.id)
      .executeTakeFirstOrThrow();
    // The seed's layout: downloads/{user_id}/{yyyy}/{mm}/…
    expect(task.file_path).toMatch(new RegExp(`^downloads/${server.owner.id}/\\d{4}/\\d{2}/[A-Za-z0-9._-]+\\.mp4$`));
    const thumbnail = await server.services.storage.stat(task.file_path!.replace(/\.mp4$/, '_thumbnail.jpg'));
    expect(thumbnail?.contentType).toBe('image/jpeg');
    expect(thumbnail?.size).toBeGreaterThan(500);

    const list = (await (
      await server.fetch(`${server.url}/api/v2/downloads?status=completed&platform=generic`)
    ).json()) as Task;
    expect(list.items.map((t: Task) => t.id)).toContain(done.id);
  });

  it('converts to audio-only m4a and mp3', async () => {
    const [m4a, mp3] = await Promise.all([
      create(server, { url: `${media.url}/${clip.name}`, options: { audio_only: true, format: 'm4a' } }),
      create(server, { url: `${media.url}/${clip.name}`, options: { format: 'mp3' } }),
    ]);
    for (const [t, codec] of [
      [m4a.body, 'aac'],
      [mp3.body, 'mp3'],
    ] as const) {
      const done = await waitFor(server, t.id, ['completed', 'failed']);
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
      expect(done.audio_only).toBe(true);
      const bytes = Buffer.from(await (await server.fetch(`${server.url}${done.file_url}`)).arrayBuffer());
      const probe = await probeMedia(await saveTemp(bytes, done.format));
      expect(probe.video).toBeNull();
      expect(probe.audio?.codec).toBe(codec);
      expect(probe.duration).toBeGreaterThan(2.5);
    }
  });

  it('cancels a transfer in flight, then retries it to completion', async () => {
    const created = await create(server, { url: `${media.url}/slow.mp4` });
    await waitFor(server, created.body.id, ['downloading']);
    const del = await server.fetch(`${server.url}/api/v2/downloads/${created.body.id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(((await del.json()) as Task).status).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(workDir(server.dataDir, created.body.id))).toBe(false);
    expect(
      ((await (await server.fetch(`${server.url}/api/v2/downloads/${created.body.id}`)).json()) as Task).status,
    ).toBe('cancelled');
    // (A second DELETE would now remove the cancelled task: see library-api.test.ts.)

    media.setBehavior('/slow.mp4', undefined);
    const retry = await server.fetch(`${server.url}/api/v2/downloads/${created.body.id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(202);
    const done = await waitFor(server, created.body.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    const retryDone = await server.fetch(`${server.url}/api/v2/downloads/${created.body.id}/retry`, { method: 'POST' });
    expect(retryDone.status).toBe(409);
    // An explicit cancel never removes a finished download (DELETE would): 409, and the file stays.
    const lateCancel = await server.fetch(`${server.url}/api/v2/downloads/${created.body.id}/cancel`, {
      method: 'POST',
    });
    expect(lateCancel.status).toBe(409);
    expect(((await lateCancel.json()) as { error: { code: string } }).error.code).toBe('conflict');
    expect((await server.fetch(`${server.url}/api/v2/downloads/${created.body.id}/file`)).status).toBe(200);
    media.setBehavior('/slow.mp4', { throttleBytesPerSec: 20_000 });
  });

  it('streams live events over SSE until the task completes', async () => {
    const created = await create(server, { url: `${media.url}/${clip.name}`, options: { format: 'mkv' } });
    const res = await server.fetch(`${server.url}/api/v2/downloads/${created.body.id}/events`);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text(); // the stream ends after the final event
    const events = [...text.matchAll(/^event: (\w+)\ndata: (.+)$/gm)].map((m) => ({
      type: m[1],
      data: JSON.parse(m[2]!),
    }));
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.at(-1)!.type).toMatch(/task_completed|download_complete/);
    for (const e of events) expect(e.data.task_id).toBe(created.body.id);
  });

  it('fails cleanly for a media URL that is not there, without retrying a permanent error', async () => {
    const created = await create(server, { url: `${media.url}/missing.mp4` });
    const done = await waitFor(server, created.body.id, ['completed', 'failed']);
    expect(done.status).toBe('failed');
    expect(done.error.code).toMatch(/not_found|unsupported_url/);
    expect(done.file_url).toBeNull();
    const file = await server.fetch(`${server.url}/api/v2/downloads/${done.id}/file`);
    expect(file.status).toBe(409);
  });

  it('answers bad input with 4xx error bodies', async () => {
    const bad = await create(server, { url: `${media.url}/${clip.name}`, options: { quality: '9999' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
    const unknown = await server.fetch(`${server.url}/api/v2/downloads/00000000-0000-4000-8000-000000000000`);
    expect(unknown.status).toBe(404);
    const notUuid = await server.fetch(`${server.url}/api/v2/downloads/../../etc/passwd`);
    expect(notUuid.status).toBeGreaterThanOrEqual(400);
    const ftp = await create(server, { url: 'ftp://example.com/x.mp4' });
    expect(ftp.status).toBe(400);
    expect(ftp.body.error.code).toBe('invalid_url');
  });
});

describe('DASH video + audio from a native extractor', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded', { YTBH_UPSTREAM_REWRITE: replay.url });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('downloads BiliBili DASH streams with their Referer and merges them with ffmpeg', async () => {
    const pageUrl = 'https://www.bilibili.com/video/BV1Et4y1r7Eu';
    const info = (await (
      await server.fetch(`${server.url}/api/v2/videos/info?url=${encodeURIComponent(pageUrl)}`)
    ).json()) as VideoInfo;
    const options = resolveOptions({ quality: '360', video_codec: 'h264' });
    const chosen = selectFormats(info.formats, options);
    expect(chosen.video && chosen.audio).toBeTruthy();
    // The recorded CDN URLs expired long ago: serve generated streams at exactly those addresses.
    const referers: (string | undefined)[] = [];
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
        handler: (req, res) => {
          referers.push(req.headers.referer);
          serveFile(file.path, req, res);
        },
      });
    }
    const created = await create(server, { url: pageUrl, options: { quality: '360', video_codec: 'h264' } });
    expect(created.status).toBe(202);
    const done = await waitFor(server, created.body.id, ['completed', 'failed']);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.selected_formats.video.format_id).toBe(chosen.video!.format_id);
    expect(done.selected_formats.audio.format_id).toBe(chosen.audio!.format_id);
    expect(referers.length).toBeGreaterThanOrEqual(2);
    for (const r of referers) expect(r).toMatch(/^https:\/\/www\.bilibili\.com/);

    const file = await server.fetch(`${server.url}${done.file_url}`);
    expect(decodeURIComponent(file.headers.get('content-disposition')!.split("UTF-8''")[1]!)).toContain(
      '骁龙888性能分析',
    );
    const bytes = Buffer.from(await file.arrayBuffer());
    const probe = await probeMedia(await saveTemp(bytes, 'mp4'));
    expect(probe.video?.codec).toBe('h264');
    expect(probe.audio?.codec).toBe('aac');
    expect(probe.duration).toBeGreaterThan(2.8);
  });
});

async function saveTemp(bytes: Buffer, ext: string): Promise<string> {
  const { writeFile } = await import('node:fs/promises');
  const file = path.join(mediaDir, `out-${sha(bytes).slice(0, 12)}.${ext}`);
  await writeFile(file, bytes);
  return file;
}
