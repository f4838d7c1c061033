/**
 * The storage key of a download's thumbnail: the task JSON links our thumbnail
 * endpoint only when one was stored (audio and failed cuts have none), and
 * deleting the task removes exactly that object. Tasks finished before this
 * column keep null (the platform's thumbnail is shown instead).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table download_tasks add column thumbnail_path text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table download_tasks drop column if exists thumbnail_path`.execute(db);
}
