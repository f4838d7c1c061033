/**
 * The seed's six tables (users, user_quotas, videos, download_tasks,
 * analytics_events, user_preferences) with enums user_role, video_platform and
 * task_status, plus what accounts and delivery need next (api_keys,
 * refresh_sessions, audit_log, platform_cookies). Plain SQL so PGlite and
 * PostgreSQL run exactly the same statements.
 */
import { sql, type Kysely } from 'kysely';

/* one statement per entry: PGlite runs queries over the extended protocol, which takes one at a time */
const UP: string[] = [
  `create type user_role as enum ('admin', 'user', 'guest')`,
  `create type video_platform as enum ('youtube', 'bilibili', 'twitch', 'tiktok', 'generic')`,
  `create type task_status as enum
      ('queued', 'extracting', 'downloading', 'processing', 'completed', 'failed', 'cancelled')`,
  `create table users (
      id uuid primary key default gen_random_uuid(),
      username text not null,
      email text not null,
      password_hash text not null,
      role user_role not null default 'user',
      is_active boolean not null default true,
      display_name text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      last_login_at timestamptz,
      constraint users_username_format check (username ~ '^[A-Za-z0-9_.-]{3,32}$'),
      constraint users_email_format check (position('@' in email) > 1 and length(email) <= 254)
    )`,
  `create unique index users_username_key on users (lower(username))`,
  `create unique index users_email_key on users (lower(email))`,
  `create table user_quotas (
      user_id uuid primary key references users(id) on delete cascade,
      daily_limit integer not null default 100 check (daily_limit >= 0),
      monthly_limit integer not null default 1000 check (monthly_limit >= 0),
      storage_limit_bytes bigint not null default 10737418240 check (storage_limit_bytes >= 0),
      concurrent_limit integer not null default 3 check (concurrent_limit >= 0),
      daily_used integer not null default 0 check (daily_used >= 0),
      monthly_used integer not null default 0 check (monthly_used >= 0),
      storage_used_bytes bigint not null default 0 check (storage_used_bytes >= 0),
      daily_reset_at timestamptz not null default (date_trunc('day', now()) + interval '1 day'),
      monthly_reset_at timestamptz not null default (date_trunc('month', now()) + interval '1 month'),
      updated_at timestamptz not null default now()
    )`,
  `create table videos (
      id uuid primary key default gen_random_uuid(),
      platform video_platform not null,
      video_id text not null,
      url text not null,
      title text not null,
      description text,
      duration integer check (duration is null or duration >= 0),
      uploader text,
      uploader_id text,
      upload_date date,
      view_count bigint,
      like_count bigint,
      thumbnail_url text,
      tags text[] not null default '{}',
      is_live boolean not null default false,
      metadata jsonb not null default '{}'::jsonb,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      constraint videos_url_platform_key unique (url, platform)
    )`,
  `create index videos_platform_video_id_idx on videos (platform, video_id)`,
  `create table download_tasks (
      id uuid primary key default gen_random_uuid(),
      user_id uuid references users(id) on delete cascade,
      video_id uuid references videos(id) on delete set null,
      parent_id uuid references download_tasks(id) on delete cascade,
      url text not null,
      platform video_platform not null,
      status task_status not null default 'queued',
      quality text not null default 'best',
      format text,
      audio_only boolean not null default false,
      options jsonb not null default '{}'::jsonb,
      selected_formats jsonb,
      progress real not null default 0 check (progress >= 0 and progress <= 100),
      bytes_done bigint not null default 0,
      bytes_total bigint,
      speed_bps bigint,
      eta_seconds integer,
      error_code text,
      error_message text,
      file_path text,
      file_size bigint,
      attempts integer not null default 0,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      started_at timestamptz,
      completed_at timestamptz
    )`,
  `create index download_tasks_user_created_idx on download_tasks (user_id, created_at desc, id desc)`,
  `create index download_tasks_status_idx on download_tasks (status) where status in ('queued', 'extracting', 'downloading', 'processing')`,
  `create index download_tasks_parent_idx on download_tasks (parent_id) where parent_id is not null`,
  `create table analytics_events (
      id bigserial primary key,
      event_type text not null,
      user_id uuid references users(id) on delete set null,
      platform video_platform,
      video_id text,
      properties jsonb not null default '{}'::jsonb,
      ip text,
      user_agent text,
      created_at timestamptz not null default now()
    )`,
  `create index analytics_events_type_time_idx on analytics_events (event_type, created_at desc)`,
  `create table user_preferences (
      user_id uuid primary key references users(id) on delete cascade,
      default_quality text not null default 'best',
      default_format text not null default 'mp4',
      default_audio_format text not null default 'm4a',
      video_codec text not null default 'any',
      audio_language text,
      subtitles text[] not null default '{}',
      notifications_enabled boolean not null default true,
      email_notifications boolean not null default false,
      webhook_url_enc text,
      auto_cleanup_days integer check (auto_cleanup_days is null or auto_cleanup_days > 0),
      theme text not null default 'system' check (theme in ('light', 'dark', 'system')),
      language text not null default 'en',
      extra jsonb not null default '{}'::jsonb,
      updated_at timestamptz not null default now()
    )`,
  `create table api_keys (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references users(id) on delete cascade,
      name text not null,
      prefix text not null unique,
      key_hash text not null,
      scopes text[] not null default '{read}',
      expires_at timestamptz,
      last_used_at timestamptz,
      revoked_at timestamptz,
      created_at timestamptz not null default now()
    )`,
  `create index api_keys_user_idx on api_keys (user_id)`,
  `create table refresh_sessions (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references users(id) on delete cascade,
      family_id uuid not null,
      token_hash text not null unique,
      replaced_by uuid references refresh_sessions(id) on delete set null,
      ip text,
      user_agent text,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      revoked_at timestamptz
    )`,
  `create index refresh_sessions_family_idx on refresh_sessions (family_id)`,
  `create index refresh_sessions_user_idx on refresh_sessions (user_id)`,
  `create table audit_log (
      id bigserial primary key,
      actor_id uuid,
      action text not null,
      target_type text,
      target_id text,
      ip text,
      details jsonb not null default '{}'::jsonb,
      created_at timestamptz not null default now()
    )`,
  `create index audit_log_time_idx on audit_log (created_at desc)`,
  `create index audit_log_actor_idx on audit_log (actor_id, created_at desc)`,
  // Append-only: the application may insert, never rewrite history.
  `create function audit_log_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only';
    end $$`,
  `create trigger audit_log_no_update before update or delete on audit_log
      for each row execute function audit_log_append_only()`,
  `create table platform_cookies (
      platform video_platform primary key,
      cookies_enc text not null,
      updated_by uuid references users(id) on delete set null,
      updated_at timestamptz not null default now()
    )`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists platform_cookies, audit_log, refresh_sessions, api_keys, user_preferences,
    analytics_events, download_tasks, videos, user_quotas, users cascade`.execute(db);
  await sql`drop function if exists audit_log_append_only()`.execute(db);
  await sql`drop type if exists task_status, video_platform, user_role`.execute(db);
}
