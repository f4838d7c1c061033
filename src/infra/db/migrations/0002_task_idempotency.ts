/**
 * One active task per (user, video, options): a partial unique index makes
 * "ask again while it is active → the same task" hold under races.
 */
import { sql, type Kysely } from 'kysely';

const UP = [
  `alter table download_tasks add column options_hash text`,
  `alter table download_tasks add column video_key text`,
  `create unique index download_tasks_active_unique on download_tasks
     (coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid), url, options_hash)
     where status in ('queued', 'extracting', 'downloading', 'processing') and parent_id is null`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists download_tasks_active_unique`.execute(db);
  await sql`alter table download_tasks drop column if exists options_hash, drop column if exists video_key`.execute(db);
}
