import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase, type Database } from '../../src/infra/db/database.js';
import { createUser } from '../../src/accounts/users.js';
import {
  canonicalJson,
  createTask,
  getOwnTask,
  listTasks,
  transition,
  unfinishedTaskIds,
  type NewTask,
} from '../../src/delivery/tasks.js';
import { canTransition } from '../../src/delivery/task-status.js';
import { createPostgresDatabase, type TempPostgres } from '../support/backends.js';

describe.each(['pglite', 'postgres'] as const)('download tasks on %s', (kind) => {
  let database: Database;
  let temp: TempPostgres | undefined;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    temp = kind === 'postgres' ? await createPostgresDatabase() : undefined;
    database = await openDatabase({ url: temp?.url, pgliteDir: 'memory://' });
    await migrateToLatest(database);
    alice = (await createUser(database.db, { username: 'alice', email: 'alice@example.com', password: 'password-a' }))
      .id;
    bob = (await createUser(database.db, { username: 'bob', email: 'bob@example.com', password: 'password-b' })).id;
  });
  afterAll(async () => {
    await database.close();
    await temp?.drop();
  });

  const task = (userId: string | null, options: Record<string, unknown> = { quality: '720' }, id = 'BV1'): NewTask => ({
    userId,
    url: `https://www.bilibili.com/video/${id}`,
    platform: 'bilibili',
    videoKey: id,
    options,
    quality: String(options.quality ?? 'best'),
    format: 'mp4',
    audioOnly: false,
  });

  it('hashes options independently of key order', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
  });

  it('gives racing identical requests one task, and new options a new task', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => createTask(database.db, task(alice))));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.task.id)).size).toBe(1);
    const reordered = await createTask(database.db, task(alice, { quality: '720' }));
    expect(reordered.created).toBe(false);
    const other = await createTask(database.db, task(alice, { quality: '1080' }));
    expect(other.created).toBe(true);
    const bobs = await createTask(database.db, task(bob));
    expect(bobs.created).toBe(true);
    expect(bobs.task.id).not.toBe(results[0]!.task.id);
  });

  it('moves tasks only along allowed transitions, once', async () => {
    const { task: t } = await createTask(database.db, task(alice, {}, 'BV2'));
    expect(canTransition('queued', 'completed')).toBe(false);
    expect(await transition(database.db, t.id, 'completed')).toBeUndefined();
    const [a, b] = await Promise.all([
      transition(database.db, t.id, 'extracting', { started_at: new Date() }),
      transition(database.db, t.id, 'extracting', { started_at: new Date() }),
    ]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect(await unfinishedTaskIds(database.db)).toEqual(expect.arrayContaining([{ id: t.id, platform: 'bilibili' }]));
    await transition(database.db, t.id, 'failed', { error_code: 'upstream_error', error_message: 'x' });
    // A finished task frees the slot: the same request creates a new task.
    const again = await createTask(database.db, task(alice, {}, 'BV2'));
    expect(again.created).toBe(true);
    expect(again.task.id).not.toBe(t.id);
  });

  it('hides other users’ tasks as not found', async () => {
    const { task: t } = await createTask(database.db, task(alice, {}, 'BV3'));
    await expect(getOwnTask(database.db, t.id, bob)).rejects.toMatchObject({ code: 'not_found' });
    await expect(getOwnTask(database.db, t.id, null)).rejects.toMatchObject({ code: 'not_found' });
    expect((await getOwnTask(database.db, t.id, alice)).id).toBe(t.id);
  });

  it('pages with a cursor, newest first, filtered', async () => {
    for (let i = 0; i < 5; i++) await createTask(database.db, task(bob, { i }, `BVp${i}`));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await listTasks(database.db, { userId: bob, limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...r.items.map((t) => t.id));
      if (!r.next_cursor) break;
      cursor = r.next_cursor;
    }
    const all = await listTasks(database.db, { userId: bob, limit: 100 });
    expect(seen).toEqual(all.items.map((t) => t.id));
    expect(new Set(seen).size).toBe(6);
    const queued = await listTasks(database.db, { userId: bob, limit: 100, status: 'queued', platform: 'bilibili' });
    expect(queued.items).toHaveLength(6);
    await expect(listTasks(database.db, { userId: bob, limit: 2, cursor: 'garbage' })).rejects.toMatchObject({
      code: 'validation_failed',
    });
  });
});
