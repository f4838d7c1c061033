/**
 * Accounts: per-role quota defaults (a user's own limits override them; null
 * means "the role's default"), invitation codes for REGISTRATION=invite, and
 * when a password last changed (tokens issued before that are refused).
 */
import { sql, type Kysely } from 'kysely';

const UP = [
  `create table role_quota_defaults (
      role user_role primary key,
      daily_limit integer not null check (daily_limit >= 0),
      monthly_limit integer not null check (monthly_limit >= 0),
      storage_limit_bytes bigint not null check (storage_limit_bytes >= 0),
      concurrent_limit integer not null check (concurrent_limit >= 0),
      updated_at timestamptz not null default now()
    )`,
  `insert into role_quota_defaults values
      ('admin', 1000, 10000, 107374182400, 10, now()),
      ('user', 100, 1000, 10737418240, 3, now()),
      ('guest', 0, 0, 0, 0, now())`,
  `alter table user_quotas
      alter column daily_limit drop not null, alter column daily_limit drop default,
      alter column monthly_limit drop not null, alter column monthly_limit drop default,
      alter column storage_limit_bytes drop not null, alter column storage_limit_bytes drop default,
      alter column concurrent_limit drop not null, alter column concurrent_limit drop default`,
  `update user_quotas set daily_limit = null, monthly_limit = null, storage_limit_bytes = null, concurrent_limit = null`,
  `create table user_invites (
      id uuid primary key default gen_random_uuid(),
      code_hash text not null unique,
      role user_role not null default 'user',
      created_by uuid references users(id) on delete set null,
      expires_at timestamptz,
      used_by uuid references users(id) on delete set null,
      used_at timestamptz,
      created_at timestamptz not null default now()
    )`,
  `alter table users add column password_changed_at timestamptz`,
  `create index download_tasks_user_status_idx on download_tasks (user_id, status)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists download_tasks_user_status_idx`.execute(db);
  await sql`alter table users drop column if exists password_changed_at`.execute(db);
  await sql`drop table if exists user_invites, role_quota_defaults`.execute(db);
}
