import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMedia, runFfmpeg, type MediaFile } from '../support/media.js';
import { startMediaServer, type MediaServer } from '../support/media-server.js';
import { startReplayServer, type ReplayServer } from '../support/replay-server.js';
import { startTestServer, type Backend, type TestServer } from '../support/server.js';
import { probeMedia } from '../../src/media/ffmpeg.js';
import { downloadWithYtdlp, needsYtdlp, parseYtdlpProgress } from '../../src/delivery/downloader/ytdlp-download.js';
import { deriveParentStatus, emptyCounts } from '../../src/delivery/tasks.js';
import { listEntries, MAX_PLAYLIST_ENTRIES } from '../../src/delivery/batch.js';
import type { ExtractionService } from '../../src/extract/service.js';
import type { Playlist } from '../../src/extract/model.js';
import type { DownloadProgress } from '../../src/delivery/downloader/common.js';

type Task = Record<string, any>;
const json = { 'content-type': 'application/json' };
const SLOW = { throttleBytesPerSec: 15_000 };

let mediaDir: string;
let clip: MediaFile;
let media: MediaServer;
let replay: ReplayServer;

function playlistPage(title: string, files: string[]): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title></head><body>
${files.map((f) => `<video src="/${f}" controls></video>`).join('\n')}
</body></html>
`;
}

beforeAll(async () => {
  mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-batch-'));
  clip = await makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' });
  for (const name of ['a.mp4', 'b.mp4', 'c.mp4', 'd.mp4', 'slow-1.mp4', 'slow-2.mp4']) {
    copyFileSync(clip.path, path.join(mediaDir, name));
  }
  // Pages yt-dlp's generic extractor turns into playlists: several <video> elements.
  writeFileSync(path.join(mediaDir, 'list.html'), playlistPage('Three clips', ['b.mp4', 'c.mp4', 'd.mp4']));
  writeFileSync(path.join(mediaDir, 'slow-list.html'), playlistPage('Two slow clips', ['slow-1.mp4', 'slow-2.mp4']));
  // A DASH presentation (video and audio adaptation sets, 1 s segments): only yt-dlp can fetch it.
  mkdirSync(path.join(mediaDir, 'dash'));
  await runFfmpeg([
    '-i',
    clip.path,
    '-map',
    '0:v',
    '-map',
    '0:a',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '25',
    '-keyint_min',
    '25',
    '-sc_threshold',
    '0',
    '-c:a',
    'aac',
    '-f',
    'dash',
    '-seg_duration',
    '1',
    path.join(mediaDir, 'dash', 'manifest.mpd'),
  ]);
  media = await startMediaServer(mediaDir, {
    paths: { '/slow-1.mp4': SLOW, '/slow-2.mp4': SLOW },
  });
  // Nothing may leave the machine: upstream rewrite points at a local replay server.
  replay = await startReplayServer();
});

afterAll(async () => {
  await media?.stop();
  await replay?.stop();
  rmSync(mediaDir, { recursive: true, force: true });
});

async function post(server: TestServer, route: string, body: unknown) {
  const res = await server.fetch(`${server.url}${route}`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Task };
}

async function get(server: TestServer, route: string): Promise<Task> {
  return (await (await server.fetch(`${server.url}${route}`)).json()) as Task;
}

async function waitFor(server: TestServer, id: string, statuses: string[], timeoutMs = 110_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await get(server, `/api/v2/downloads/${id}`);
    if (statuses.includes(t.status)) return t;
    if (Date.now() > deadline) throw new Error(`task ${id} stayed ${t.status}: ${JSON.stringify(t.error)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function children(server: TestServer, parentId: string): Promise<Task[]> {
  return (await get(server, `/api/v2/downloads?parent_id=${parentId}&limit=100`)).items as Task[];
}

describe('parent status', () => {
  it('is derived from the children', () => {
    const c = (over: Partial<ReturnType<typeof emptyCounts>>) => {
      const counts = { ...emptyCounts(), ...over };
      counts.total =
        counts.queued +
        counts.extracting +
        counts.downloading +
        counts.processing +
        counts.completed +
        counts.failed +
        counts.cancelled;
      return counts;
    };
    expect(deriveParentStatus(c({}))).toBeNull();
    expect(deriveParentStatus(c({ queued: 2 }))).toBe('queued');
    expect(deriveParentStatus(c({ queued: 1, extracting: 1 }))).toBe('downloading');
    expect(deriveParentStatus(c({ completed: 1, processing: 1 }))).toBe('downloading');
    expect(deriveParentStatus(c({ completed: 1, queued: 1 }))).toBe('queued');
    expect(deriveParentStatus(c({ completed: 3 }))).toBe('completed');
    expect(deriveParentStatus(c({ completed: 2, failed: 1, cancelled: 1 }))).toBe('failed');
    expect(deriveParentStatus(c({ completed: 2, cancelled: 1 }))).toBe('cancelled');
  });
});

describe('playlist listing', () => {
  const pageOf = (n: number, size: number, last: number): Playlist => ({
    platform: 'generic',
    id: 'pl',
    title: 'A long playlist',
    uploader: null,
    entries: Array.from({ length: size }, (_, i) => ({
      id: `${n}-${i}`,
      url: `http://127.0.0.1/${n}-${i}.mp4`,
      title: null,
      duration: null,
    })),
    next_page: n < last ? String(n + 1) : null,
  });
  const fake = (last: number) => {
    const asked: Array<string | undefined> = [];
    const extraction = {
      playlist: (_url: string, page?: string) => {
        asked.push(page);
        return Promise.resolve(pageOf(Number(page ?? '1'), 100, last));
      },
    } as unknown as ExtractionService;
    return { extraction, asked };
  };

  it('reads pages up to the cap and reports what lies beyond it', async () => {
    expect(MAX_PLAYLIST_ENTRIES).toBe(500);
    const { extraction, asked } = fake(5);
    const l = await listEntries({ extraction }, 'http://127.0.0.1/pl', undefined, 150);
    expect(asked).toEqual([undefined, '2']);
    expect(l.entries).toHaveLength(150);
    expect(l.entries.at(-1)!.id).toBe('2-49');
    expect(l.beyond).toHaveLength(50);
    expect(l.nextPage).toBe('3');

    const all = await listEntries(fake(2), 'http://127.0.0.1/pl', undefined, 500);
    expect(all.entries).toHaveLength(200);
    expect(all.beyond).toHaveLength(0);
    expect(all.nextPage).toBeNull();

    const exact = fake(3);
    const e = await listEntries({ extraction: exact.extraction }, 'http://127.0.0.1/pl', pageOf(1, 100, 3), 200);
    expect(exact.asked).toEqual(['2']); // the first page came with the detection
    expect(e.entries).toHaveLength(200);
    expect(e.nextPage).toBe('3');
  });
});

describe.each(['embedded', 'distributed'] as Backend[])('batches and playlists (%s)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend, { ALLOW_PRIVATE_ADDRESSES: 'true', YTBH_UPSTREAM_REWRITE: replay.url });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('queues a batch URL by URL: two clips complete, a bad URL gets its own error', async () => {
    const urls = [`${media.url}/a.mp4`, 'ftp://example.com/x.mp4', `${media.url}/b.mp4`, `${media.url}/a.mp4`];
    const res = await post(server, '/api/v2/downloads/batch', { urls, options: { format: 'mp4' } });
    expect(res.status).toBe(202);
    const items = res.body.items as Task[];
    expect(items.map((i) => i.url)).toEqual(urls);
    expect(items[1]!.task).toBeUndefined();
    expect(items[1]!.error.code).toBe('invalid_url');
    for (const i of [0, 2, 3]) {
      expect(items[i]!.error).toBeUndefined();
      expect(items[i]!.task).toMatchObject({ platform: 'generic', format: 'mp4', parent_id: null });
    }
    // The same URL twice is one task.
    expect(items[3]!.task.id).toBe(items[0]!.task.id);
    expect(items[2]!.task.id).not.toBe(items[0]!.task.id);
    for (const i of [0, 2]) {
      const done = await waitFor(server, items[i]!.task.id, ['completed', 'failed']);
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
      expect(done.progress).toBe(100);
    }
  }, 120_000);

  it('rejects an empty batch, more than 50 URLs and over-long URLs as a whole', async () => {
    const tooMany = await post(server, '/api/v2/downloads/batch', {
      urls: Array.from({ length: 51 }, (_, i) => `${media.url}/a.mp4?n=${i}`),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.code).toBe('validation_failed');
    expect((await post(server, '/api/v2/downloads/batch', { urls: [] })).status).toBe(400);
    const long = await post(server, '/api/v2/downloads/batch', { urls: [`${media.url}/${'x'.repeat(2100)}.mp4`] });
    expect(long.status).toBe(400);
    const badOptions = await post(server, '/api/v2/downloads/batch', {
      urls: [`${media.url}/a.mp4`],
      options: { quality: '9999' },
    });
    expect(badOptions.status).toBe(400);
  });

  it('downloads a playlist page as a parent task with one child per entry', async () => {
    const created = await post(server, '/api/v2/downloads', { url: `${media.url}/list.html` });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const parent = created.body;
    expect(parent.parent_id).toBeNull();
    expect(parent.children_count).toBe(3);
    expect(parent.playlist).toMatchObject({ children_count: 3, truncated: false, beyond_cap_count: 0, skipped: [] });
    expect(parent.playlist.title).toBe('Three clips');
    expect(['queued', 'downloading']).toContain(parent.status);
    // The parent's own event stream follows its children and ends with its completion.
    const parentEvents = server.fetch(`${server.url}/api/v2/downloads/${parent.id}/events`).then((r) => r.text());

    // Asking again while it runs gives the same parent and queues nothing new.
    const again = await post(server, '/api/v2/downloads', { url: `${media.url}/list.html` });
    if (again.body.status !== 'completed') {
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(parent.id);
    }

    const kids = await children(server, parent.id);
    expect(kids).toHaveLength(3);
    expect(kids.map((k) => k.url).sort()).toEqual(['b.mp4', 'c.mp4', 'd.mp4'].map((f) => `${media.url}/${f}`));
    for (const k of kids) expect(k.parent_id).toBe(parent.id);

    for (const k of kids) {
      const done = await waitFor(server, k.id, ['completed', 'failed']);
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
    }
    const finished = await waitFor(server, parent.id, ['completed', 'failed', 'cancelled']);
    expect(finished.status).toBe('completed');
    expect(finished.progress).toBe(100);
    expect(finished.children).toMatchObject({ total: 3, completed: 3, failed: 0, queued: 0 });
    expect(finished.file_url).toBeNull();
    expect(finished.completed_at).toBeTruthy();
    const events = [...(await parentEvents).matchAll(/^event: (\w+)\ndata: (.+)$/gm)].map((m) => ({
      type: m[1],
      data: JSON.parse(m[2]!) as Task,
    }));
    expect(events.every((e) => e.data.task_id === parent.id)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'task_completed', data: { status: 'completed', progress: 100 } });

    // A finished child's file is a real video.
    const bytes = Buffer.from(
      await (await server.fetch(`${server.url}/api/v2/downloads/${kids[0]!.id}/file`)).arrayBuffer(),
    );
    const file = path.join(mediaDir, `out-${backend}-${kids[0]!.id}.mp4`);
    writeFileSync(file, bytes);
    expect((await probeMedia(file)).duration).toBeGreaterThan(2.5);
  }, 120_000);

  it('cancels a playlist: its running children stop; retry resumes them to completion; then removes it', async () => {
    const created = await post(server, '/api/v2/downloads', { url: `${media.url}/slow-list.html` });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const parentId = created.body.id as string;
    expect(created.body.children_count).toBe(2);
    expect(created.body.title).toBe('Two slow clips');

    const deadline = Date.now() + 30_000;
    while (!(await children(server, parentId)).some((k) => k.status === 'downloading')) {
      if (Date.now() > deadline) throw new Error('no child started downloading');
      await new Promise((r) => setTimeout(r, 100));
    }
    const parentRunning = await get(server, `/api/v2/downloads/${parentId}`);
    expect(parentRunning.status).toBe('downloading');
    expect(parentRunning.children.total).toBe(2);

    const del = await server.fetch(`${server.url}/api/v2/downloads/${parentId}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const cancelled = (await del.json()) as Task;
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.children).toMatchObject({ total: 2, cancelled: 2 });
    await new Promise((r) => setTimeout(r, 500));
    for (const k of await children(server, parentId)) expect(k.status).toBe('cancelled');
    expect((await get(server, `/api/v2/downloads/${parentId}`)).status).toBe('cancelled');

    media.setBehavior('/slow-1.mp4', undefined);
    media.setBehavior('/slow-2.mp4', undefined);
    try {
      const retry = await server.fetch(`${server.url}/api/v2/downloads/${parentId}/retry`, { method: 'POST' });
      expect(retry.status).toBe(202);
      const requeued = (await retry.json()) as Task;
      expect(['queued', 'downloading']).toContain(requeued.status);
      const done = await waitFor(server, parentId, ['completed', 'failed', 'cancelled']);
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
      expect(done.children).toMatchObject({ total: 2, completed: 2 });
      const retryDone = await server.fetch(`${server.url}/api/v2/downloads/${parentId}/retry`, { method: 'POST' });
      expect(retryDone.status).toBe(409);

      // A finished playlist is removed whole: every entry's stored files, the entries and the playlist.
      const kids = await children(server, parentId);
      const rows = await server.services.database.db
        .selectFrom('download_tasks')
        .select(['file_path', 'thumbnail_path'])
        .where('parent_id', '=', parentId)
        .execute();
      const keys = rows.flatMap((r) => [r.file_path!, r.thumbnail_path!]);
      expect(keys.length).toBe(4);
      for (const key of keys) expect(await server.services.storage.stat(key)).not.toBeNull();
      const removed = await server.fetch(`${server.url}/api/v2/downloads/${parentId}`, { method: 'DELETE' });
      expect(removed.status).toBe(204);
      for (const key of keys) expect(await server.services.storage.stat(key)).toBeNull();
      for (const id of [parentId, ...kids.map((k) => k.id as string)]) {
        expect((await server.fetch(`${server.url}/api/v2/downloads/${id}`)).status).toBe(404);
      }
    } finally {
      media.setBehavior('/slow-1.mp4', SLOW);
      media.setBehavior('/slow-2.mp4', SLOW);
    }
  }, 120_000);

  it('queues a playlist URL in a batch, and a single page with playlist: false', async () => {
    const res = await post(server, '/api/v2/downloads/batch', {
      urls: [`${media.url}/list.html`],
      options: { format: 'mkv' },
    });
    expect(res.status).toBe(202);
    const item = (res.body.items as Task[])[0]!;
    expect(item.task.children_count).toBe(3);
    const done = await waitFor(server, item.task.id, ['completed', 'failed', 'cancelled']);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect((await children(server, item.task.id)).every((k) => k.format === 'mkv')).toBe(true);

    const single = await post(server, '/api/v2/downloads', {
      url: `${media.url}/list.html`,
      playlist: false,
      options: { format: 'webm' },
    });
    expect(single.status).toBe(202);
    expect(single.body.children_count).toBeUndefined();
    expect(single.body.playlist).toBeUndefined();
  }, 120_000);
});

describe('formats only yt-dlp can fetch (DASH manifests)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded', { ALLOW_PRIVATE_ADDRESSES: 'true', YTBH_UPSTREAM_REWRITE: replay.url });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('parses yt-dlp progress lines', () => {
    expect(parseYtdlpProgress('[download] Destination: x')).toBeNull();
    expect(parseYtdlpProgress('{"no_status": 1}')).toBeNull();
    expect(
      parseYtdlpProgress(
        '{"status": "downloading", "downloaded_bytes": 815, "total_bytes_estimate": 3260.0, "eta": 2, "speed": 1000.5}',
      ),
    ).toEqual({ bytesDone: 815, bytesTotal: 3260, speedBps: 1001, etaSeconds: 2 });
    expect(parseYtdlpProgress('{"status": "finished", "downloaded_bytes": 10, "total_bytes": 10}')).toEqual({
      bytesDone: 10,
      bytesTotal: 10,
      speedBps: 0,
      etaSeconds: 0,
    });
    expect(needsYtdlp({ protocol: 'dash' })).toBe(true);
    expect(needsYtdlp({ protocol: 'https' })).toBe(false);
    expect(needsYtdlp({ protocol: 'hls' })).toBe(false);
  });

  it('downloads one DASH representation with yt-dlp, reporting progress, and is killed on abort', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-ytdlp-dl-'));
    try {
      const seen: DownloadProgress[] = [];
      const file = await downloadWithYtdlp({
        allowPrivateAddresses: true, // the test servers are on loopback
        pageUrl: `${media.url}/dash/manifest.mpd`,
        formatId: '0',
        dir,
        basename: 'part0',
        onProgress: (p) => seen.push(p),
      });
      expect(path.basename(file)).toBe('part0.mp4');
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.at(-1)!.bytesDone).toBeGreaterThan(0);
      const probe = await probeMedia(file);
      expect(probe.video?.codec).toBe('h264');
      expect(probe.audio).toBeNull();

      // A trickled segment keeps yt-dlp busy; aborting kills it.
      media.setBehavior('/dash/chunk-stream1-00002.m4s', { throttleBytesPerSec: 500 });
      const controller = new AbortController();
      let pid = 0;
      const running = downloadWithYtdlp({
        allowPrivateAddresses: true, // the test servers are on loopback
        pageUrl: `${media.url}/dash/manifest.mpd`,
        formatId: '1',
        dir,
        basename: 'part1',
        signal: controller.signal,
        onSpawn: (p) => (pid = p),
        onProgress: () => controller.abort(new Error('stop')),
      });
      await expect(running).rejects.toThrow('stop');
      expect(pid).toBeGreaterThan(0);
      expect(() => process.kill(pid, 0)).toThrow();
      expect(readdirSync(dir).some((f) => f === 'part1.m4a')).toBe(false);
    } finally {
      media.setBehavior('/dash/chunk-stream1-00002.m4s', undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('downloads a DASH manifest end to end through the API, with live progress', async () => {
    // Trickle one segment so progress is visible while yt-dlp works.
    media.setBehavior('/dash/chunk-stream0-00002.m4s', { throttleBytesPerSec: 20_000 });
    try {
      const created = await post(server, '/api/v2/downloads', { url: `${media.url}/dash/manifest.mpd` });
      expect(created.status, JSON.stringify(created.body)).toBe(202);
      expect(created.body.children_count).toBeUndefined();
      const res = await server.fetch(`${server.url}/api/v2/downloads/${created.body.id}/events`);
      const text = await res.text(); // ends after the final event
      const events = [...text.matchAll(/^event: (\w+)\ndata: (.+)$/gm)].map((m) => ({
        type: m[1],
        data: JSON.parse(m[2]!) as Task,
      }));
      const progress = events.filter((e) => e.type === 'task_progress');
      expect(progress.length, text).toBeGreaterThan(0);
      expect(progress.some((e) => e.data.bytes_done > 0)).toBe(true);

      const done = await waitFor(server, created.body.id, ['completed', 'failed']);
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
      expect(done.selected_formats.video).toMatchObject({ protocol: 'dash', format_id: '0' });
      expect(done.selected_formats.audio).toMatchObject({ protocol: 'dash', format_id: '1' });
      const bytes = Buffer.from(await (await server.fetch(`${server.url}${done.file_url}`)).arrayBuffer());
      const file = path.join(mediaDir, 'out-dash.mp4');
      writeFileSync(file, bytes);
      const probe = await probeMedia(file);
      expect(probe.video?.codec).toBe('h264');
      expect(probe.audio?.codec).toBe('aac');
      expect(probe.duration).toBeGreaterThan(2.5);
    } finally {
      media.setBehavior('/dash/chunk-stream0-00002.m4s', undefined);
    }
  }, 120_000);
});
