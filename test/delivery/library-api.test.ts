/**
 * The library side of downloads: tasks carry their video's title, uploader,
 * duration and thumbnail; the stored thumbnail is served (ETag, private
 * cache, query token); DELETE removes a finished download with its stored
 * files and gives its storage back (quota and storage_usage_bytes); and
 * admins see queue depth and storage used in /system/info, counted in the
 * database whichever queue backend runs.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMedia, type MediaFile } from '../support/media.js';
import { pageTitle, startMediaServer, type MediaServer } from '../support/media-server.js';
import { startTestServer, type Backend, type TestServer } from '../support/server.js';
import { createTestUser, sessionOf, type TestUser } from '../support/auth.js';
import { workDir } from '../../src/delivery/pipeline.js';

type Task = Record<string, any>;
const json = { 'content-type': 'application/json' };
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let mediaDir: string;
let clip: MediaFile;
let media: MediaServer;

beforeAll(async () => {
  mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-library-'));
  clip = await makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' });
  media = await startMediaServer(mediaDir);
});
afterAll(async () => {
  await media?.stop();
  rmSync(mediaDir, { recursive: true, force: true });
});

async function download(server: TestServer, user: TestUser, body: unknown): Promise<Task> {
  const res = await user.fetch(`${server.url}/api/v2/downloads`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify(body),
  });
  const created = (await res.json()) as Task;
  expect(res.status, JSON.stringify(created)).toBe(202);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const t = (await (await user.fetch(`${server.url}/api/v2/downloads/${created.id}`)).json()) as Task;
    if (['completed', 'failed', 'cancelled'].includes(t.status)) return t;
    if (Date.now() > deadline) throw new Error(`task ${created.id} stayed ${t.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function storageUsed(server: TestServer, user: TestUser): Promise<number> {
  const quota = (await (await user.fetch(`${server.url}/api/v2/users/me/quota`)).json()) as Task;
  return quota.storage.used as number;
}

/** The user's storage_usage_bytes sample in /metrics, or null when the gauge has none for them. */
async function gaugeOf(server: TestServer, userId: string): Promise<number | null> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = text.match(new RegExp(`^storage_usage_bytes\\{user_id="${userId}"\\} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : null;
}

const rowOf = (server: TestServer, id: string) =>
  server.services.database.db.selectFrom('download_tasks').selectAll().where('id', '=', id).executeTakeFirst();

describe.each(['embedded', 'distributed'] as Backend[])('library (%s)', (backend) => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  beforeAll(async () => {
    server = await startTestServer(backend, { ALLOW_PRIVATE_ADDRESSES: 'true' });
    [alice, bob] = await Promise.all([createTestUser(server.services), createTestUser(server.services)]);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a finished task carries its title, duration and stored thumbnail, served with ETag and a private cache', async () => {
    const name = clip.name.replace(/\.mp4$/, '');
    const done = await download(server, alice, { url: `${media.url}/page/${name}.html` });
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.title).toBe(pageTitle(name));
    expect(done.duration).toBeGreaterThanOrEqual(2);
    expect(done.duration).toBeLessThanOrEqual(4);
    expect(done.thumbnail_url).toBe(`/api/v2/downloads/${done.id}/thumbnail`);

    // Linked to the `videos` row extraction stored.
    const row = (await rowOf(server, done.id))!;
    expect(row.video_id).toBeTruthy();
    const video = await server.services.database.db
      .selectFrom('videos')
      .select(['title', 'url'])
      .where('id', '=', row.video_id!)
      .executeTakeFirstOrThrow();
    expect(video).toEqual({ title: pageTitle(name), url: row.url });
    expect(row.thumbnail_path).toBe(row.file_path!.replace(/\.mp4$/, '_thumbnail.jpg'));

    const listed = (await (await alice.fetch(`${server.url}/api/v2/downloads?status=completed`)).json()) as Task;
    expect(listed.items.find((t: Task) => t.id === done.id)).toMatchObject({
      title: pageTitle(name),
      thumbnail_url: done.thumbnail_url,
    });

    const res = await alice.fetch(`${server.url}${done.thumbnail_url}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('cache-control')).toMatch(/^private\b/);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    expect(bytes.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))).toBe(true);
    const stored = await server.services.storage.read(row.thumbnail_path!);
    const chunks: Buffer[] = [];
    for await (const c of stored) chunks.push(c as Buffer);
    expect(sha(bytes)).toBe(sha(Buffer.concat(chunks)));

    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    const cached = await alice.fetch(`${server.url}${done.thumbnail_url}`, { headers: { 'if-none-match': etag } });
    expect(cached.status).toBe(304);
    expect((await cached.arrayBuffer()).byteLength).toBe(0);

    // An <img> cannot send headers: the access token may come in the query, as for the file.
    const session = await sessionOf(server.url, alice);
    const viaQuery = await fetch(`${server.url}${done.thumbnail_url}?access_token=${session.access_token}`);
    expect(viaQuery.status).toBe(200);
    expect(sha(Buffer.from(await viaQuery.arrayBuffer()))).toBe(sha(bytes));
    expect((await fetch(`${server.url}${done.thumbnail_url}`)).status).toBe(401);

    // Someone else's download does not exist for them.
    const foreign = await bob.fetch(`${server.url}${done.thumbnail_url}`);
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as Task).error.code).toBe('not_found');

    // A task no worker has started yet (not linked) finds its video by URL: the page looked it up already.
    const waiting = randomUUID();
    const db = server.services.database.db;
    await db
      .insertInto('download_tasks')
      .values({
        id: waiting,
        user_id: alice.id,
        url: row.url,
        platform: row.platform,
        status: 'cancelled',
        options: '{}',
      })
      .execute();
    try {
      const unlinked = (await (await alice.fetch(`${server.url}/api/v2/downloads/${waiting}`)).json()) as Task;
      expect(unlinked).toMatchObject({ title: pageTitle(name), duration: done.duration, file_url: null });
      expect(unlinked.thumbnail_url).not.toBe(`/api/v2/downloads/${waiting}/thumbnail`);
    } finally {
      await db.deleteFrom('download_tasks').where('id', '=', waiting).execute();
    }
  });

  it('an audio download stores no thumbnail: the endpoint answers 404 with an error body', async () => {
    const done = await download(server, alice, {
      url: `${media.url}/${clip.name}`,
      options: { audio_only: true, format: 'm4a' },
    });
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.thumbnail_url).not.toBe(`/api/v2/downloads/${done.id}/thumbnail`);
    expect((await rowOf(server, done.id))!.thumbnail_path).toBeNull();
    const res = await alice.fetch(`${server.url}/api/v2/downloads/${done.id}/thumbnail`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as Task).error).toMatchObject({ code: 'not_found', message: expect.any(String) });
  });

  it('DELETE removes a finished download and its stored files; storage usage drops; others get 404', async () => {
    const carol = await createTestUser(server.services);
    const done = await download(server, carol, { url: `${media.url}/${clip.name}` });
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    const row = (await rowOf(server, done.id))!;
    const keys = [row.file_path!, row.thumbnail_path!];
    for (const key of keys) expect(await server.services.storage.stat(key)).not.toBeNull();
    expect(await storageUsed(server, carol)).toBe(done.file_size);
    expect(await gaugeOf(server, carol.id)).toBe(done.file_size);

    // Another user cannot remove (or see) it.
    const foreign = await bob.fetch(`${server.url}/api/v2/downloads/${done.id}`, { method: 'DELETE' });
    expect(foreign.status).toBe(404);
    expect(await rowOf(server, done.id)).toBeDefined();

    const del = await carol.fetch(`${server.url}/api/v2/downloads/${done.id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(await del.text()).toBe('');
    for (const key of keys) expect(await server.services.storage.stat(key)).toBeNull();
    expect(await rowOf(server, done.id)).toBeUndefined();
    expect((await carol.fetch(`${server.url}/api/v2/downloads/${done.id}`)).status).toBe(404);
    expect((await carol.fetch(`${server.url}/api/v2/downloads/${done.id}/file`)).status).toBe(404);
    expect((await carol.fetch(`${server.url}/api/v2/downloads/${done.id}/thumbnail`)).status).toBe(404);
    const again = await carol.fetch(`${server.url}/api/v2/downloads/${done.id}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(((await again.json()) as Task).error.code).toBe('not_found');

    expect(await storageUsed(server, carol)).toBe(0);
    expect(await gaugeOf(server, carol.id)).toBeNull();
  });

  it('DELETE on a failed download removes it and its partial files', async () => {
    const failed = await download(server, alice, { url: `${media.url}/missing.mp4` });
    expect(failed.status).toBe('failed');
    // What a failed run leaves for a retry to resume.
    const dir = workDir(server.dataDir, failed.id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'part0.mp4.part'), 'partial');
    const del = await alice.fetch(`${server.url}/api/v2/downloads/${failed.id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(existsSync(dir)).toBe(false);
    expect(await rowOf(server, failed.id)).toBeUndefined();
  });

  it('system info shows admins the queue depth and storage used, counted in the database', async () => {
    const info = async (user: TestUser) =>
      (await (await user.fetch(`${server.url}/api/v2/system/info`)).json()) as Task;
    const before = await info(server.owner);
    expect(before.storage.backend).toBe('local');
    const db = server.services.database.db;
    // Rows written as another process would (never handed to this server's queue): the database decides.
    const base = { user_id: alice.id, platform: 'generic' as const, options: '{}' };
    const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await db
      .insertInto('download_tasks')
      .values([
        { ...base, id: ids[0], url: `${media.url}/q1.mp4`, status: 'queued' },
        { ...base, id: ids[1], url: `${media.url}/q2.mp4`, status: 'queued' },
        { ...base, id: ids[2], url: `${media.url}/r1.mp4`, status: 'downloading' },
        // A playlist parent is bookkeeping, not work: not counted.
        {
          ...base,
          id: ids[3],
          url: `${media.url}/list.html`,
          status: 'queued',
          selected_formats: JSON.stringify({ playlist: { title: 'x' } }),
        },
        {
          ...base,
          id: ids[4],
          url: `${media.url}/done.mp4`,
          status: 'completed',
          file_path: 'downloads/x/done.mp4',
          file_size: 123_456,
        },
      ])
      .execute();
    try {
      const after = await info(server.owner);
      expect(after.queue).toEqual({ queued: before.queue.queued + 2, running: before.queue.running + 1 });
      expect(after.storage).toEqual({
        backend: 'local',
        used_bytes: before.storage.used_bytes + 123_456,
        files: before.storage.files + 1,
      });
      // The figures are the database's: every completed task's size.
      const sum = await db
        .selectFrom('download_tasks')
        .select((eb) => eb.fn.sum<number>('file_size').as('bytes'))
        .where('status', '=', 'completed')
        .executeTakeFirstOrThrow();
      expect(after.storage.used_bytes).toBe(Number(sum.bytes));

      // Instance-wide figures are for admins: a user sees the rest of the answer without them.
      const mine = await info(alice);
      expect(mine.version).toBe(after.version);
      expect(mine).not.toHaveProperty('queue');
      expect(mine).not.toHaveProperty('storage');
    } finally {
      await db.deleteFrom('download_tasks').where('id', 'in', ids).execute();
    }
  });
});
