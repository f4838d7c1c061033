/**
 * download_tasks as the source of truth: creation (idempotent per user,
 * video and options while active), reads with cursor pagination, and
 * state transitions as conditional updates.
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely, type Updateable } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { DB, DownloadTask, DownloadTasksTable, TaskStatus } from '../infra/db/schema.js';
import type { Platform } from '../extract/model.js';
import { ACTIVE_STATUSES, sourcesOf } from './task-status.js';

export interface NewTask {
  userId: string | null;
  /** canonical URL of the video */
  url: string;
  platform: Platform;
  /** the platform's video id */
  videoKey: string;
  options: Record<string, unknown>;
  quality: string;
  format: string | null;
  audioOnly: boolean;
  parentId?: string | null;
}

/** Key order must not change the hash: {a,b} and {b,a} are the same options. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function optionsHash(options: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(options)).digest('hex');
}

/** Creates a task, or returns the active one for the same user, video and options. */
export async function createTask(db: Kysely<DB>, t: NewTask): Promise<{ task: DownloadTask; created: boolean }> {
  const hash = optionsHash(t.options);
  const inserted = await db
    .insertInto('download_tasks')
    .values({
      user_id: t.userId,
      url: t.url,
      platform: t.platform,
      video_key: t.videoKey,
      options: JSON.stringify(t.options),
      options_hash: hash,
      quality: t.quality,
      format: t.format,
      audio_only: t.audioOnly,
      parent_id: t.parentId ?? null,
    })
    .onConflict((oc) => oc.doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { task: inserted, created: true };
  const existing = await db
    .selectFrom('download_tasks')
    .selectAll()
    .where(sql<boolean>`user_id is not distinct from ${t.userId}`)
    .where('url', '=', t.url)
    .where('options_hash', '=', hash)
    .where('parent_id', 'is', null)
    .where('status', 'in', ACTIVE_STATUSES)
    .executeTakeFirst();
  if (existing) return { task: existing, created: false };
  // The active twin finished between our insert and select: try once more.
  return createTask(db, t);
}

export async function getTask(db: Kysely<DB>, id: string): Promise<DownloadTask | undefined> {
  return db.selectFrom('download_tasks').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A task the caller may see: other users' tasks are "not found", so ids never leak. */
export async function getOwnTask(db: Kysely<DB>, id: string, userId: string | null): Promise<DownloadTask> {
  const task = await db
    .selectFrom('download_tasks')
    .selectAll()
    .where('id', '=', id)
    .where(sql<boolean>`user_id is not distinct from ${userId}`)
    .executeTakeFirst();
  if (!task) throw new AppError('not_found', 'No such download');
  return task;
}

export interface TaskFilter {
  userId: string | null;
  status?: TaskStatus;
  platform?: Platform;
  parentId?: string;
  limit: number;
  cursor?: string;
}

function encodeCursor(t: DownloadTask): string {
  return Buffer.from(`${t.created_at.toISOString()}|${t.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso ?? '');
  if (!id || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new AppError('validation_failed', 'Invalid cursor');
  }
  return { createdAt, id };
}

export async function listTasks(
  db: Kysely<DB>,
  f: TaskFilter,
): Promise<{ items: DownloadTask[]; next_cursor: string | null }> {
  let q = db
    .selectFrom('download_tasks')
    .selectAll()
    .where(sql<boolean>`user_id is not distinct from ${f.userId}`)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(f.limit + 1);
  if (f.status) q = q.where('status', '=', f.status);
  if (f.platform) q = q.where('platform', '=', f.platform);
  if (f.parentId) q = q.where('parent_id', '=', f.parentId);
  if (f.cursor) {
    const c = decodeCursor(f.cursor);
    q = q.where(sql<boolean>`(created_at, id) < (${c.createdAt}, ${c.id}::uuid)`);
  }
  const rows = await q.execute();
  const items = rows.slice(0, f.limit);
  return { items, next_cursor: rows.length > f.limit ? encodeCursor(items[items.length - 1]!) : null };
}

type TaskFields = Omit<Updateable<DownloadTasksTable>, 'id' | 'status' | 'created_at'>;

/** Moves a task to `to` if its current state allows it; undefined when another process got there first. */
export async function transition(
  db: Kysely<DB>,
  id: string,
  to: TaskStatus,
  fields: TaskFields = {},
  from: readonly TaskStatus[] = sourcesOf(to),
): Promise<DownloadTask | undefined> {
  return db
    .updateTable('download_tasks')
    .set({ ...fields, status: to, updated_at: new Date() })
    .where('id', '=', id)
    .where('status', 'in', from)
    .returningAll()
    .executeTakeFirst();
}

export async function updateProgress(
  db: Kysely<DB>,
  id: string,
  p: {
    progress: number;
    bytes_done: number;
    bytes_total: number | null;
    speed_bps: number | null;
    eta_seconds: number | null;
  },
): Promise<void> {
  await db
    .updateTable('download_tasks')
    .set({
      progress: Math.max(0, Math.min(100, p.progress)),
      bytes_done: Math.round(p.bytes_done),
      bytes_total: p.bytes_total === null ? null : Math.round(p.bytes_total),
      speed_bps: p.speed_bps === null ? null : Math.round(p.speed_bps),
      eta_seconds: p.eta_seconds === null ? null : Math.round(p.eta_seconds),
      updated_at: new Date(),
    })
    .where('id', '=', id)
    .where('status', 'in', ['extracting', 'downloading', 'processing'])
    .execute();
}

/** Tasks a restarted process must hand to the queue again. */
export async function unfinishedTaskIds(db: Kysely<DB>): Promise<{ id: string; platform: Platform }[]> {
  return db
    .selectFrom('download_tasks')
    .select(['id', 'platform'])
    .where('status', 'in', ACTIVE_STATUSES)
    .orderBy('created_at')
    .execute();
}
