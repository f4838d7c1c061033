/** Kysely table types; mirror migrations/ (bigint columns are parsed to number). */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { Platform } from '../../extract/model.js';

export type UserRole = 'admin' | 'user' | 'guest';
export type TaskStatus = 'queued' | 'extracting' | 'downloading' | 'processing' | 'completed' | 'failed' | 'cancelled';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T = Record<string, unknown>> = ColumnType<T, string | T | undefined, string | T>;

export interface UsersTable {
  id: Generated<string>;
  username: string;
  email: string;
  password_hash: string;
  role: ColumnType<UserRole, UserRole | undefined, UserRole>;
  is_active: Generated<boolean>;
  display_name: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
  last_login_at: Date | null;
  password_changed_at: Date | null;
}

export interface RoleQuotaDefaultsTable {
  role: UserRole;
  daily_limit: number;
  monthly_limit: number;
  storage_limit_bytes: number;
  concurrent_limit: number;
  updated_at: Timestamp;
}

export interface UserInvitesTable {
  id: Generated<string>;
  code_hash: string;
  role: ColumnType<UserRole, UserRole | undefined, UserRole>;
  created_by: string | null;
  expires_at: Date | null;
  used_by: string | null;
  used_at: Date | null;
  created_at: CreatedAt;
}

export interface UserQuotasTable {
  user_id: string;
  /** null: the role's default (role_quota_defaults) */
  daily_limit: number | null;
  monthly_limit: number | null;
  storage_limit_bytes: number | null;
  concurrent_limit: number | null;
  daily_used: Generated<number>;
  monthly_used: Generated<number>;
  storage_used_bytes: Generated<number>;
  daily_reset_at: Timestamp;
  monthly_reset_at: Timestamp;
  updated_at: Timestamp;
}

export interface VideosTable {
  id: Generated<string>;
  platform: Platform;
  video_id: string;
  url: string;
  title: string;
  description: string | null;
  duration: number | null;
  uploader: string | null;
  uploader_id: string | null;
  upload_date: string | null;
  view_count: number | null;
  like_count: number | null;
  thumbnail_url: string | null;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  is_live: Generated<boolean>;
  metadata: Json;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface DownloadTasksTable {
  id: Generated<string>;
  user_id: string | null;
  video_id: string | null;
  parent_id: string | null;
  url: string;
  platform: Platform;
  status: ColumnType<TaskStatus, TaskStatus | undefined, TaskStatus>;
  quality: Generated<string>;
  format: string | null;
  audio_only: Generated<boolean>;
  options: Json;
  /** sha256 of the canonical options JSON (idempotency) */
  options_hash: string | null;
  /** the platform's video id (the storage layout's {video_id}) */
  video_key: string | null;
  selected_formats: Json<unknown> | null;
  progress: Generated<number>;
  bytes_done: Generated<number>;
  bytes_total: number | null;
  speed_bps: number | null;
  eta_seconds: number | null;
  error_code: string | null;
  error_message: string | null;
  file_path: string | null;
  file_size: number | null;
  /** the stored thumbnail's key (null: none stored) */
  thumbnail_path: string | null;
  attempts: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  started_at: Date | null;
  completed_at: Date | null;
}

export interface AnalyticsEventsTable {
  id: Generated<number>;
  event_type: string;
  user_id: string | null;
  platform: Platform | null;
  video_id: string | null;
  properties: Json;
  ip: string | null;
  user_agent: string | null;
  created_at: CreatedAt;
}

export interface UserPreferencesTable {
  user_id: string;
  default_quality: Generated<string>;
  default_format: Generated<string>;
  default_audio_format: Generated<string>;
  video_codec: Generated<string>;
  audio_language: string | null;
  subtitles: ColumnType<string[], string[] | undefined, string[]>;
  notifications_enabled: Generated<boolean>;
  email_notifications: Generated<boolean>;
  webhook_url_enc: string | null;
  auto_cleanup_days: number | null;
  theme: Generated<string>;
  language: Generated<string>;
  extra: Json;
  updated_at: Timestamp;
}

export interface ApiKeysTable {
  id: Generated<string>;
  user_id: string;
  name: string;
  prefix: string;
  key_hash: string;
  scopes: ColumnType<string[], string[] | undefined, string[]>;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  created_at: CreatedAt;
}

export interface RefreshSessionsTable {
  id: Generated<string>;
  user_id: string;
  family_id: string;
  token_hash: string;
  replaced_by: string | null;
  ip: string | null;
  user_agent: string | null;
  created_at: CreatedAt;
  expires_at: Date;
  revoked_at: Date | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  details: Json;
  created_at: CreatedAt;
}

export interface PlatformCookiesTable {
  platform: Platform;
  cookies_enc: string;
  updated_by: string | null;
  updated_at: Timestamp;
}

export interface DB {
  users: UsersTable;
  user_quotas: UserQuotasTable;
  videos: VideosTable;
  download_tasks: DownloadTasksTable;
  analytics_events: AnalyticsEventsTable;
  user_preferences: UserPreferencesTable;
  api_keys: ApiKeysTable;
  refresh_sessions: RefreshSessionsTable;
  audit_log: AuditLogTable;
  platform_cookies: PlatformCookiesTable;
  role_quota_defaults: RoleQuotaDefaultsTable;
  user_invites: UserInvitesTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type Video = Selectable<VideosTable>;
export type DownloadTask = Selectable<DownloadTasksTable>;
export type ApiKey = Selectable<ApiKeysTable>;
export type RefreshSession = Selectable<RefreshSessionsTable>;
