import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMedia, type MediaFile } from '../support/media.js';
import { startMediaServer, type MediaServer } from '../support/media-server.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestUser, type TestUser } from '../support/auth.js';
import { call, waitUntil, type Body } from './helpers.js';

const RUNNING = ['extracting', 'downloading', 'processing'];
const FINAL = ['completed', 'failed', 'cancelled'];

let mediaDir: string;
let clip: MediaFile;
let media: MediaServer;

function playlistPage(title: string, files: string[]): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>
${files.map((f) => `<video src="/${f}" controls></video>`).join('\n')}
</body></html>`;
}

beforeAll(async () => {
  mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-quota-'));
  clip = await makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' });
  for (const name of ['p1.mp4', 'p2.mp4', 'p3.mp4', 'q1.mp4', 'q2.mp4', 'slow-1.mp4', 'slow-2.mp4', 'store.mp4']) {
    copyFileSync(clip.path, path.join(mediaDir, name));
  }
  writeFileSync(path.join(mediaDir, 'three.html'), playlistPage('Three clips', ['p1.mp4', 'p2.mp4', 'p3.mp4']));
  writeFileSync(path.join(mediaDir, 'two.html'), playlistPage('Two clips', ['q1.mp4', 'q2.mp4']));
  const slow = { throttleBytesPerSec: 80_000 };
  media = await startMediaServer(mediaDir, { paths: { '/slow-1.mp4': slow, '/slow-2.mp4': slow } });
}, 180_000);
afterAll(async () => {
  await media?.stop();
  rmSync(mediaDir, { recursive: true, force: true });
});

const nextUtcMidnight = () => {
  const n = new Date();
  return new Date(Date.UTC(n.getUTCFullYear(), n.getUTCMonth(), n.getUTCDate() + 1));
};
const nextUtcMonth = () => {
  const n = new Date();
  return new Date(Date.UTC(n.getUTCFullYear(), n.getUTCMonth() + 1, 1));
};

/** An admin sets a user's own limits over the API. */
async function setQuota(server: TestServer, user: TestUser, limits: Body) {
  const r = await call(server.fetch, `${server.url}/api/v2/admin/users/${user.id}/quota`, 'PUT', limits);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

const download = (server: TestServer, user: TestUser, body: Body) =>
  call(user.fetch, `${server.url}/api/v2/downloads`, 'POST', body);

const quotaOf = async (server: TestServer, user: TestUser) =>
  (await call(user.fetch, `${server.url}/api/v2/users/me/quota`)).body;

async function taskCount(server: TestServer, user: TestUser): Promise<number> {
  const r = await server.services.database.db
    .selectFrom('download_tasks')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', user.id)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * 8 parallel creations (different URLs) at a daily limit of 1, spread over the
 * given api processes: exactly one passes. concurrent_limit 0 keeps the winner
 * queued (waiting for a run slot), so asking for it again is the idempotent case.
 */
async function lastSlotRace(servers: TestServer[], admin: TestServer, tag: string) {
  const user = await createTestUser(admin.services, 'user');
  const set = await setQuota(admin, user, { daily_limit: 1, concurrent_limit: 0 });
  expect(set.quota.daily).toMatchObject({ limit: 1, used: 0, source: 'user' });
  expect(set.quota.monthly.source).toBe('role');

  const answers = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      download(servers[i % servers.length]!, user, { url: `${media.url}/${tag}-${i}.mp4` }),
    ),
  );
  const statuses = answers.map((a) => a.status).sort();
  expect(statuses, JSON.stringify(answers.map((a) => a.body))).toEqual([202, 429, 429, 429, 429, 429, 429, 429]);
  const midnight = nextUtcMidnight();
  for (const a of answers.filter((x) => x.status === 429)) {
    expect(a.body.error).toMatchObject({
      code: 'quota_exceeded',
      details: { quota: 'daily', limit: 1, used: 1, resets_at: midnight.toISOString() },
    });
    expect(a.body.error.message).toMatch(/daily/i);
    expect(a.body.error.message).toContain(midnight.toISOString());
    const retryAfter = Number(a.headers.get('retry-after'));
    const expected = (midnight.getTime() - Date.now()) / 1000;
    expect(retryAfter).toBeGreaterThan(0);
    expect(Math.abs(retryAfter - expected)).toBeLessThan(60);
  }
  expect(await taskCount(admin, user)).toBe(1);

  const winner = answers.find((a) => a.status === 202)!;
  // Asking again for the active task answers with it and costs nothing.
  for (const s of servers) {
    const again = await download(s, user, { url: winner.body.url });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.id).toBe(winner.body.id);
  }
  const q = await quotaOf(servers[0]!, user);
  expect(q.daily).toMatchObject({ limit: 1, used: 1, remaining: 0, source: 'user' });
  expect(q.monthly).toMatchObject({ used: 1, source: 'role' });
  expect(q.active_tasks).toBe(1);
  expect(q.concurrent).toMatchObject({ limit: 0, used: 0 });
  // concurrent_limit 0: the task waits in the queue; it does not fail.
  const task = await call(user.fetch, `${servers[0]!.url}/api/v2/downloads/${winner.body.id}`);
  expect(task.body.status).toBe('queued');
}

describe('quotas (embedded)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded', { ALLOW_PRIVATE_ADDRESSES: 'true' });
  }, 180_000);
  afterAll(async () => {
    await server?.close();
  });

  it('lets exactly one of 8 racing requests take the last daily slot', async () => {
    await lastSlotRace([server], server, 'race-e');
  });

  it('enforces the monthly quota with Retry-After until the 1st of next month (UTC)', async () => {
    const user = await createTestUser(server.services, 'user');
    await setQuota(server, user, { daily_limit: 5, monthly_limit: 1, concurrent_limit: 0 });
    expect((await download(server, user, { url: `${media.url}/month-1.mp4` })).status).toBe(202);
    const over = await download(server, user, { url: `${media.url}/month-2.mp4` });
    expect(over.status).toBe(429);
    expect(over.body.error.details).toEqual({
      quota: 'monthly',
      limit: 1,
      used: 1,
      resets_at: nextUtcMonth().toISOString(),
    });
    expect(over.body.error.message).toMatch(/monthly/i);
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(Math.abs(retryAfter - (nextUtcMonth().getTime() - Date.now()) / 1000)).toBeLessThan(60);

    // Raising the limit lets the next one through.
    await setQuota(server, user, { monthly_limit: null });
    expect((await download(server, user, { url: `${media.url}/month-2.mp4` })).status).toBe(202);
    expect((await quotaOf(server, user)).monthly).toMatchObject({ used: 2, source: 'role' });
  });

  it('counts a new day from 0: a count stored for a past window does not hold', async () => {
    const user = await createTestUser(server.services, 'user');
    await setQuota(server, user, { daily_limit: 1, concurrent_limit: 0 });
    expect((await download(server, user, { url: `${media.url}/day-1.mp4` })).status).toBe(202);
    expect((await download(server, user, { url: `${media.url}/day-2.mp4` })).status).toBe(429);
    // As if the count had been made yesterday.
    const yesterday = new Date(nextUtcMidnight().getTime() - 24 * 3600_000);
    await server.services.database.db
      .updateTable('user_quotas')
      .set({ daily_reset_at: yesterday })
      .where('user_id', '=', user.id)
      .execute();
    expect((await quotaOf(server, user)).daily).toMatchObject({ used: 0, remaining: 1 });
    expect((await download(server, user, { url: `${media.url}/day-2.mp4` })).status).toBe(202);
    expect((await quotaOf(server, user)).daily).toMatchObject({ used: 1, resets_at: nextUtcMidnight().toISOString() });
  });

  it('queues as many playlist entries as the quota allows and reports the rest as skipped', async () => {
    const user = await createTestUser(server.services, 'user');
    await setQuota(server, user, { daily_limit: 2, concurrent_limit: 0 });
    const made = await download(server, user, { url: `${media.url}/three.html` });
    expect(made.status, JSON.stringify(made.body)).toBe(202);
    expect(made.body.children_count).toBe(2);
    expect(made.body.playlist.children_count).toBe(2);
    expect(made.body.playlist.skipped).toHaveLength(1);
    expect(made.body.playlist.skipped[0]).toMatchObject({ error: { code: 'quota_exceeded' } });
    expect(made.body.playlist.skipped[0].error.message).toMatch(/daily/i);
    // The children count, the parent does not.
    expect((await quotaOf(server, user)).daily).toMatchObject({ used: 2, remaining: 0 });
    expect(await taskCount(server, user)).toBe(3);

    // Not even one entry fits: the whole request is refused.
    const none = await download(server, user, { url: `${media.url}/two.html` });
    expect(none.status).toBe(429);
    expect(none.body.error.details).toMatchObject({ quota: 'daily', limit: 2, used: 2 });
    expect(await taskCount(server, user)).toBe(3);
  }, 120_000);

  it('fails batch items over the quota on their own', async () => {
    const user = await createTestUser(server.services, 'user');
    await setQuota(server, user, { daily_limit: 2, concurrent_limit: 0 });
    const urls = ['b-1', 'b-2', 'b-3'].map((n) => `${media.url}/${n}.mp4`);
    const r = await call(user.fetch, `${server.url}/api/v2/downloads/batch`, 'POST', { urls });
    expect(r.status).toBe(202);
    const items = r.body.items as Body[];
    expect(items.filter((i) => i.task)).toHaveLength(2);
    const failed = items.filter((i) => i.error);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error.code).toBe('quota_exceeded');
    expect(await taskCount(server, user)).toBe(2);
  });

  it('refuses new downloads once completed files fill the storage quota, and exports the usage metric', async () => {
    const user = await createTestUser(server.services, 'user');
    await setQuota(server, user, { storage_limit_bytes: 1000 });
    const made = await download(server, user, { url: `${media.url}/store.mp4` });
    expect(made.status).toBe(202);
    const done = await waitUntil(async () => {
      const t = (await call(user.fetch, `${server.url}/api/v2/downloads/${made.body.id}`)).body;
      return FINAL.includes(t.status) ? t : undefined;
    }, 150_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.file_size).toBeGreaterThan(1000);

    const over = await download(server, user, { url: `${media.url}/p1.mp4` });
    expect(over.status).toBe(429);
    expect(over.body.error.details).toEqual({ quota: 'storage', limit: 1000, used: done.file_size, resets_at: null });
    expect(over.body.error.message).toMatch(/storage/i);
    expect(over.headers.get('retry-after')).toBeNull();
    expect((await quotaOf(server, user)).storage).toEqual({
      limit: 1000,
      used: done.file_size,
      remaining: 0,
      source: 'user',
      resets_at: null,
    });

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain(`storage_usage_bytes{user_id="${user.id}"} ${done.file_size}`);
  }, 200_000);

  it('runs at most concurrent_limit of a user’s downloads at once; the rest wait and then run', async () => {
    const user = await createTestUser(server.services, 'user');
    await setQuota(server, user, { concurrent_limit: 1 });
    const ids: string[] = [];
    for (const name of ['slow-1.mp4', 'slow-2.mp4']) {
      const r = await download(server, user, { url: `${media.url}/${name}` });
      expect(r.status).toBe(202);
      ids.push(r.body.id);
    }
    let maxRunning = 0;
    let sawWaiting = false;
    const finished = await waitUntil(
      async () => {
        const tasks = await Promise.all(
          ids.map(async (id) => (await call(user.fetch, `${server.url}/api/v2/downloads/${id}`)).body),
        );
        const running = tasks.filter((t) => RUNNING.includes(t.status)).length;
        maxRunning = Math.max(maxRunning, running);
        if (running === 1 && tasks.some((t) => t.status === 'queued')) sawWaiting = true;
        return tasks.every((t) => FINAL.includes(t.status)) ? tasks : undefined;
      },
      240_000,
      'both downloads to finish',
    );
    expect(finished.map((t) => t.status)).toEqual(['completed', 'completed']);
    expect(maxRunning).toBe(1);
    expect(sawWaiting).toBe(true);
  }, 300_000);

  it('guests cannot download at all', async () => {
    const guest = await createTestUser(server.services, 'guest');
    const r = await download(server, guest, { url: `${media.url}/p1.mp4` });
    expect(r.status).toBe(403);
  });
});

describe('quotas across two api processes (distributed)', () => {
  let one: TestServer;
  let two: TestServer;
  beforeAll(async () => {
    one = await startTestServer('distributed', { ALLOW_PRIVATE_ADDRESSES: 'true' });
    two = await startTestServer('distributed', { ALLOW_PRIVATE_ADDRESSES: 'true' }, { share: { from: one } });
  }, 180_000);
  afterAll(async () => {
    await one?.close();
  });

  it('lets exactly one of 8 racing requests (4 per process) take the last daily slot', async () => {
    await lastSlotRace([one, two], one, 'race-d');
  });
});
