/**
 * Downloads with STORAGE=s3 end to end, against s3rver in a child process:
 * the pipeline stores the media, its thumbnail and sidecar subtitles in the
 * bucket (nothing under DATA_DIR), the file endpoint serves them from S3 with
 * and without Range, removing a finished download deletes them from the
 * bucket (and keeps the task when the bucket fails), and a cancelled download
 * leaves nothing in the bucket.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeMedia } from '../../src/media/ffmpeg.js';
import { workDir } from '../../src/delivery/pipeline.js';
import { sidecarKey } from '../../src/delivery/subtitles.js';
import { makeMedia } from '../support/media.js';
import { startMediaServer, type MediaServer } from '../support/media-server.js';
import { startS3Server, type TestS3Server } from '../support/s3-server.js';
import { startTestServer, type TestServer } from '../support/server.js';

type Task = Record<string, any>;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let mediaDir: string;
let media: MediaServer;
let s3: TestS3Server;
let server: TestServer;

beforeAll(async () => {
  mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-s3dl-'));
  const clip = await makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' });
  copyFileSync(clip.path, path.join(mediaDir, 'clip.mp4'));
  copyFileSync(clip.path, path.join(mediaDir, 'slow.mp4'));
  writeFileSync(path.join(mediaDir, 'en.vtt'), 'WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nStored in a bucket\n');
  writeFileSync(
    path.join(mediaDir, 'page.html'),
    '<!DOCTYPE html><html><head><title>S3 clip</title></head><body><video src="clip.mp4">' +
      '<track kind="subtitles" src="en.vtt" srclang="en"></video></body></html>',
  );
  media = await startMediaServer(mediaDir, { paths: { '/slow.mp4': { throttleBytesPerSec: 20_000 } } });
  s3 = await startS3Server();
  server = await startTestServer('embedded', {
    ALLOW_PRIVATE_ADDRESSES: 'true',
    STORAGE: 's3',
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    S3_PREFIX: 'ytbh/',
  });
});

afterAll(async () => {
  await server?.close();
  await s3?.stop();
  await media?.stop();
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

async function waitFor(id: string, statuses: string[], timeoutMs = 90_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = (await (await server.fetch(`${server.url}/api/v2/downloads/${id}`)).json()) as Task;
    if (statuses.includes(t.status)) return t;
    if (Date.now() > deadline) throw new Error(`task ${id} stayed ${t.status}: ${JSON.stringify(t.error)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every object file s3rver holds for the bucket (its own layout: `<dir>/<bucket>/<key>._S3rver_object`). */
function bucketFiles(): string[] {
  const root = path.join(s3.directory, s3.bucket);
  return existsSync(root)
    ? (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('._S3rver_object'))
    : [];
}

/** Object writes s3rver received (PUT, or the POSTs of a multipart upload). */
const writesTo = (fragment: string) =>
  s3.requests.filter((r) => (r.method === 'PUT' || r.method === 'POST') && r.url.includes(fragment));

describe('downloads stored in S3', () => {
  it('stores the media, thumbnail and sidecar subtitles in the bucket and serves them with and without Range', async () => {
    const created = await create({
      url: `${media.url}/page.html`,
      options: { subtitles: { languages: ['en'], mode: 'sidecar' } },
    });
    const done = await waitFor(created.id, ['completed', 'failed']);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');

    const row = await server.services.database.db
      .selectFrom('download_tasks')
      .select('file_path')
      .where('id', '=', done.id)
      .executeTakeFirstOrThrow();
    const key = row.file_path!;
    const stem = key.replace(/\.mp4$/, '');
    // In the bucket under the prefix, through real S3 requests; nothing stored on the local disk.
    expect(writesTo(`/${s3.bucket}/ytbh/${key}`).length).toBeGreaterThanOrEqual(1);
    const objects = bucketFiles().map((f) => f.replace(/\._S3rver_object$/, ''));
    expect(objects).toEqual(
      expect.arrayContaining([`ytbh/${key}`, `ytbh/${stem}_thumbnail.jpg`, `ytbh/${sidecarKey(key, 'en', 'vtt')}`]),
    );
    expect(existsSync(path.join(server.dataDir, 'storage'))).toBe(false);
    expect(existsSync(workDir(server.dataDir, done.id))).toBe(false);

    const getsBefore = s3.requests.filter((r) => r.method === 'GET').length;
    const whole = await server.fetch(`${server.url}${done.file_url}`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('video/mp4');
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    const bytes = Buffer.from(await whole.arrayBuffer());
    expect(bytes.length).toBe(done.file_size);
    expect(Number(whole.headers.get('content-length'))).toBe(bytes.length);
    const local = path.join(mediaDir, 'from-s3.mp4');
    writeFileSync(local, bytes);
    const probe = await probeMedia(local);
    expect(probe.video?.width).toBe(320);
    expect(probe.duration).toBeGreaterThan(2.8);

    const part = await server.fetch(`${server.url}${done.file_url}`, { headers: { range: 'bytes=1000-4999' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 1000-4999/${bytes.length}`);
    expect(sha(Buffer.from(await part.arrayBuffer()))).toBe(sha(bytes.subarray(1000, 5000)));
    const tail = await server.fetch(`${server.url}${done.file_url}`, { headers: { range: 'bytes=-100' } });
    expect(tail.status).toBe(206);
    expect(sha(Buffer.from(await tail.arrayBuffer()))).toBe(sha(bytes.subarray(bytes.length - 100)));
    const open = await server.fetch(`${server.url}${done.file_url}`, {
      headers: { range: `bytes=${bytes.length - 10}-` },
    });
    expect(open.status).toBe(206);
    expect(Buffer.from(await open.arrayBuffer()).equals(bytes.subarray(bytes.length - 10))).toBe(true);
    const beyond = await server.fetch(`${server.url}${done.file_url}`, {
      headers: { range: `bytes=${bytes.length}-` },
    });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
    const etag = whole.headers.get('etag')!;
    expect((await server.fetch(`${server.url}${done.file_url}`, { headers: { 'if-none-match': etag } })).status).toBe(
      304,
    );
    // The bytes came from the bucket: one GET per body served (whole, three ranges).
    const objectGets = s3.requests
      .slice(getsBefore)
      .filter((r) => r.method === 'GET' && r.url.startsWith(`/${s3.bucket}/ytbh/${key}`));
    expect(objectGets.length).toBe(4);

    const sub = await server.fetch(`${server.url}${done.subtitles.files[0].url}`);
    expect(sub.status).toBe(200);
    expect(await sub.text()).toContain('Stored in a bucket');

    // Removing the finished download deletes its objects from the bucket, then the task.
    const thumb = await server.fetch(`${server.url}${done.thumbnail_url}`);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/jpeg');
    const del = await server.fetch(`${server.url}/api/v2/downloads/${done.id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    const marker = `.${String(done.id).slice(0, 8)}`;
    expect(bucketFiles().filter((f) => f.includes(marker))).toEqual([]);
    for (const k of [key, `${stem}_thumbnail.jpg`, sidecarKey(key, 'en', 'vtt')]) {
      expect(s3.requests.some((r) => r.method === 'DELETE' && r.url.startsWith(`/${s3.bucket}/ytbh/${k}`))).toBe(true);
    }
    expect((await server.fetch(`${server.url}${done.file_url}`)).status).toBe(404);
    expect((await server.fetch(`${server.url}/api/v2/downloads/${done.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('a download cancelled mid-transfer leaves nothing in the bucket; its retry stores it', async () => {
    const created = await create({ url: `${media.url}/slow.mp4` });
    // Keys carry the task id's first 8 characters: `{video}.{id8}.mp4`, `{video}.{id8}_thumbnail.jpg`.
    const marker = `.${String(created.id).slice(0, 8)}`;
    await waitFor(created.id, ['downloading']);
    const del = await server.fetch(`${server.url}/api/v2/downloads/${created.id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(((await del.json()) as Task).status).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(workDir(server.dataDir, created.id))).toBe(false);
    expect(writesTo(marker)).toEqual([]);
    expect(bucketFiles().filter((f) => f.includes(marker))).toEqual([]);
    const file = await server.fetch(`${server.url}/api/v2/downloads/${created.id}/file`);
    expect(file.status).toBe(409);

    media.setBehavior('/slow.mp4', undefined);
    const retry = await server.fetch(`${server.url}/api/v2/downloads/${created.id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(202);
    const done = await waitFor(created.id, ['completed', 'failed']);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(bucketFiles().filter((f) => f.includes(marker)).length).toBe(2); // the media and its thumbnail
  });

  // Last: it stops the S3 server.
  it('keeps a finished download when the bucket cannot delete its files, so it can be removed later', async () => {
    const done = await waitFor((await create({ url: `${media.url}/clip.mp4` })).id, ['completed', 'failed']);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    const before = (await (await server.fetch(`${server.url}/api/v2/users/me/quota`)).json()) as Task;
    await s3.stop();
    const del = await server.fetch(`${server.url}/api/v2/downloads/${done.id}`, { method: 'DELETE' });
    expect(del.status).toBe(502);
    const body = (await del.json()) as Task;
    expect(body.error).toMatchObject({ code: 'storage_error', message: expect.stringMatching(/try again/) });
    const kept = (await (await server.fetch(`${server.url}/api/v2/downloads/${done.id}`)).json()) as Task;
    expect(kept).toMatchObject({ id: done.id, status: 'completed', file_size: done.file_size });
    const after = (await (await server.fetch(`${server.url}/api/v2/users/me/quota`)).json()) as Task;
    expect(after.storage.used).toBe(before.storage.used);
  });
});
