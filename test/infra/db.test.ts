import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { migrateToLatest, openDatabase, type Database } from '../../src/infra/db/database.js';
import pg from 'pg';
import { createPostgresDatabase, PG_ADMIN_URL, type TempPostgres } from '../support/backends.js';

describe.each(['pglite', 'postgres'] as const)('%s database', (kind) => {
  let database: Database;
  let temp: TempPostgres | undefined;

  beforeAll(async () => {
    temp = kind === 'postgres' ? await createPostgresDatabase() : undefined;
    database = await openDatabase({ url: temp?.url, pgliteDir: 'memory://' });
    await migrateToLatest(database);
  });
  afterAll(async () => {
    await database.close();
    await temp?.drop();
  });

  it('is the requested backend and answers ping', async () => {
    expect(database.kind).toBe(kind);
    await database.ping();
  });

  it('has the seed tables and enums, and migrating again is a no-op', async () => {
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = 'public' order by table_name`.execute(
      database.db,
    );
    const names = tables.rows.map((r) => r.table_name);
    for (const t of [
      'users',
      'user_quotas',
      'videos',
      'download_tasks',
      'analytics_events',
      'user_preferences',
      'api_keys',
      'refresh_sessions',
      'audit_log',
    ]) {
      expect(names).toContain(t);
    }
    const enums = await sql<{
      typname: string;
    }>`select typname from pg_type where typtype = 'e' order by typname`.execute(database.db);
    expect(enums.rows.map((r) => r.typname)).toEqual(['task_status', 'user_role', 'video_platform']);
    const again = await migrateToLatest(database);
    expect(again.results).toEqual([]);
  });

  it('applies the seed defaults to a new user and quota', async () => {
    const user = await database.db
      .insertInto('users')
      .values({ username: `u${kind}`, email: `${kind}@example.com`, password_hash: 'x' })
      .returningAll()
      .executeTakeFirstOrThrow();
    expect(user.role).toBe('user');
    expect(user.is_active).toBe(true);
    await database.db.insertInto('user_quotas').values({ user_id: user.id }).execute();
    const own = await database.db
      .selectFrom('user_quotas')
      .selectAll()
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    // A user's own limits are overrides; null means the role's default, which carries the seed's numbers.
    expect(own).toMatchObject({
      daily_limit: null,
      monthly_limit: null,
      storage_limit_bytes: null,
      concurrent_limit: null,
    });
    const quota = await database.db
      .selectFrom('role_quota_defaults')
      .selectAll()
      .where('role', '=', user.role)
      .executeTakeFirstOrThrow();
    expect(quota).toMatchObject({
      daily_limit: 100,
      monthly_limit: 1000,
      storage_limit_bytes: 10 * 1024 ** 3,
      concurrent_limit: 3,
    });
    expect(typeof quota.storage_limit_bytes).toBe('number');
    await expect(
      database.db
        .insertInto('users')
        .values({ username: `U${kind}`, email: 'other@example.com', password_hash: 'x' })
        .execute(),
    ).rejects.toThrow(/users_username_key/);
  });

  it('enforces unique (url, platform) on videos and keeps metadata jsonb and dates as text', async () => {
    const row = {
      platform: 'bilibili' as const,
      video_id: 'BV1',
      url: 'https://www.bilibili.com/video/BV1',
      title: '骁龙888',
      upload_date: '2021-01-02',
      metadata: JSON.stringify({ formats: 3 }),
    };
    await database.db.insertInto('videos').values(row).execute();
    await expect(database.db.insertInto('videos').values(row).execute()).rejects.toThrow(/videos_url_platform_key/);
    await database.db
      .insertInto('videos')
      .values({ ...row, platform: 'generic' })
      .execute();
    const v = await database.db
      .selectFrom('videos')
      .selectAll()
      .where('platform', '=', 'bilibili')
      .executeTakeFirstOrThrow();
    expect(v.metadata).toEqual({ formats: 3 });
    expect(v.upload_date).toBe('2021-01-02');
    expect(v.tags).toEqual([]);
  });

  it('checks task progress bounds and the status enum', async () => {
    const base = { url: 'https://x.test/v', platform: 'generic' as const };
    await expect(
      database.db
        .insertInto('download_tasks')
        .values({ ...base, progress: 101 })
        .execute(),
    ).rejects.toThrow(/check/);
    await expect(
      database.db
        .insertInto('download_tasks')
        .values({ ...base, status: 'paused' as never })
        .execute(),
    ).rejects.toThrow(/enum/);
    const t = await database.db.insertInto('download_tasks').values(base).returningAll().executeTakeFirstOrThrow();
    expect(t.status).toBe('queued');
  });

  it('keeps the audit log append-only', async () => {
    await database.db.insertInto('audit_log').values({ action: 'login_success' }).execute();
    await expect(database.db.updateTable('audit_log').set({ action: 'x' }).execute()).rejects.toThrow(/append-only/);
    await expect(database.db.deleteFrom('audit_log').execute()).rejects.toThrow(/append-only/);
  });

  it('isolates concurrent transactions', async () => {
    const { db } = database;
    const failing = db.transaction().execute(async (trx) => {
      await trx.insertInto('analytics_events').values({ event_type: 'rolled_back' }).execute();
      await new Promise((r) => setTimeout(r, 50));
      throw new Error('abort');
    });
    const committing = db.transaction().execute(async (trx) => {
      await trx.insertInto('analytics_events').values({ event_type: 'committed' }).execute();
    });
    await expect(failing).rejects.toThrow('abort');
    await committing;
    const rows = await db.selectFrom('analytics_events').select('event_type').execute();
    expect(rows.map((r) => r.event_type)).toEqual(['committed']);
  });
});

describe('postgres pool', () => {
  it('survives its idle connections being killed by the server: reported, replaced, no crash', async () => {
    const temp = await createPostgresDatabase();
    const idleErrors: Error[] = [];
    const database = await openDatabase({ url: temp.url, onIdleError: (err) => idleErrors.push(err) });
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    try {
      const pid = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(database.db)).rows[0]!.pid;
      await admin.connect();
      await admin.query('select pg_terminate_backend($1)', [pid]);
      for (const t0 = Date.now(); idleErrors.length === 0 && Date.now() - t0 < 10_000;)
        await new Promise((r) => setTimeout(r, 20));
      expect(idleErrors[0]).toMatchObject({ code: '57P01' });
      await database.ping(); // a new connection
      const again = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(database.db)).rows[0]!.pid;
      expect(again).not.toBe(pid);
    } finally {
      await admin.end().catch(() => undefined);
      await database.close();
      await temp.drop();
    }
  });
});
