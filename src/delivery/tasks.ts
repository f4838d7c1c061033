/**
 * download_tasks as the source of truth: creation (idempotent per user,
 * video and options while active), reads with cursor pagination, and
 * state transitions as conditional updates.
 *
 * Playlists: one PARENT row (never enqueued, marked by `selected_formats.playlist`)
 * and one CHILD row per entry (`parent_id` set). The parent's status and
 * progress are derived from its children by `aggregateParent`, which is run
 * whenever a child changes status through `transition` (so the stored parent
 * status is always current, also for the active-task unique index and for
 * restarts) and again when the parent is read (to refresh live progress).
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely, type Updateable } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { DB, DownloadTask, DownloadTasksTable, TaskStatus } from '../infra/db/schema.js';
import type { Platform } from '../extract/model.js';
import { ACTIVE_STATUSES, sourcesOf } from './task-status.js';
import { afterCursor, pageOf } from '../infra/db/cursor.js';

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
  /** stored as is; a parent task carries `{ playlist: {...} }` here */
  selectedFormats?: Record<string, unknown> | null;
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
  // A playlist parent never stands in for a single-video task of the same URL (or the reverse).
  const hash = optionsHash(t.selectedFormats?.playlist ? { ...t.options, __playlist: true } : t.options);
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
      ...(t.selectedFormats ? { selected_formats: JSON.stringify(t.selectedFormats) } : {}),
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
  return pageOf(await afterCursor(q, f.cursor).execute(), f.limit);
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
  const row = await db
    .updateTable('download_tasks')
    .set({ ...fields, status: to, updated_at: new Date() })
    .where('id', '=', id)
    .where('status', 'in', from)
    .returningAll()
    .executeTakeFirst();
  // A playlist entry changed state: its parent's derived status follows (best effort; reads refresh it too).
  if (row?.parent_id) await aggregateParent(db, row.parent_id).catch(() => undefined);
  return row;
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
  return (
    db
      .selectFrom('download_tasks')
      .select(['id', 'platform'])
      .where('status', 'in', ACTIVE_STATUSES)
      // Playlist parents are never enqueued: their children are the work.
      .where(sql<boolean>`selected_formats -> 'playlist' is null`)
      .orderBy('created_at')
      .execute()
  );
}

// ---------------------------------------------------------------------------
// Playlists: parent and child tasks

/** A playlist parent: never enqueued, its state is derived from its children. */
export function isParentTask(task: Pick<DownloadTask, 'selected_formats'>): boolean {
  const sf = task.selected_formats as Record<string, unknown> | null;
  return !!sf && typeof sf === 'object' && !Array.isArray(sf) && !!sf.playlist;
}

export interface NewChild {
  url: string;
  platform: Platform;
  videoKey: string;
}

const CHILD_INSERT_CHUNK = 100;

/** Inserts one child task per entry (not idempotent: the unique index skips children), in order. */
export async function createChildTasks(
  db: Kysely<DB>,
  parent: DownloadTask,
  children: readonly NewChild[],
): Promise<DownloadTask[]> {
  const out: DownloadTask[] = [];
  // 1 ms apart in playlist order, so lists (newest first) have a stable order.
  const base = Date.now();
  for (let i = 0; i < children.length; i += CHILD_INSERT_CHUNK) {
    const rows = await db
      .insertInto('download_tasks')
      .values(
        children.slice(i, i + CHILD_INSERT_CHUNK).map((c, j) => ({
          created_at: new Date(base + i + j),
          user_id: parent.user_id,
          url: c.url,
          platform: c.platform,
          video_key: c.videoKey,
          options: JSON.stringify(parent.options),
          options_hash: parent.options_hash,
          quality: parent.quality,
          format: parent.format,
          audio_only: parent.audio_only,
          parent_id: parent.id,
        })),
      )
      .returningAll()
      .execute();
    out.push(...rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime()));
  }
  return out;
}

export type StatusCounts = Record<TaskStatus, number> & { total: number };

export interface ParentAggregate {
  task: DownloadTask;
  counts: StatusCounts;
}

export function emptyCounts(): StatusCounts {
  return { total: 0, queued: 0, extracting: 0, downloading: 0, processing: 0, completed: 0, failed: 0, cancelled: 0 };
}

/**
 * A parent's status from its children's: running while any child runs,
 * queued while the rest wait; once all are final, completed when all
 * completed, else failed when any failed, else cancelled. No children → null.
 */
export function deriveParentStatus(c: StatusCounts): TaskStatus | null {
  if (c.total === 0) return null;
  if (c.extracting + c.downloading + c.processing > 0) return 'downloading';
  if (c.queued > 0) return 'queued';
  if (c.completed === c.total) return 'completed';
  if (c.failed > 0) return 'failed';
  return 'cancelled';
}

interface ChildStatsRow {
  status: TaskStatus;
  n: number;
  progress: number;
  bytes_done: number;
  bytes_total: number | null;
  unknown_totals: number;
  speed: number;
  started_at: Date | null;
}

async function childStats(db: Kysely<DB>, parentId: string): Promise<ChildStatsRow[]> {
  const res = await sql<ChildStatsRow>`
    select status,
           count(*)::int as n,
           coalesce(sum(case when status = 'completed' then 100 else progress end), 0)::float8 as progress,
           coalesce(sum(bytes_done), 0)::float8 as bytes_done,
           sum(bytes_total)::float8 as bytes_total,
           count(*) filter (where bytes_total is null)::int as unknown_totals,
           coalesce(sum(speed_bps), 0)::float8 as speed,
           min(started_at) as started_at
      from download_tasks
     where parent_id = ${parentId}
     group by status`.execute(db);
  return res.rows;
}

/** Counts of a parent's children by status (no update). */
export async function childCounts(db: Kysely<DB>, parentId: string): Promise<StatusCounts> {
  const counts = emptyCounts();
  for (const r of await childStats(db, parentId)) {
    counts[r.status] = Number(r.n);
    counts.total += Number(r.n);
  }
  return counts;
}

/**
 * Recomputes a parent's status, progress and byte counts from its children
 * and stores them. The parent row is locked for the computation, so two
 * children finishing at once cannot leave a stale status behind.
 */
export async function aggregateParent(db: Kysely<DB>, parentId: string): Promise<ParentAggregate | undefined> {
  const run = async (trx: Kysely<DB>): Promise<ParentAggregate | undefined> => {
    const parent = await trx
      .selectFrom('download_tasks')
      .selectAll()
      .where('id', '=', parentId)
      .forUpdate()
      .executeTakeFirst();
    if (!parent) return undefined;
    const rows = await childStats(trx, parentId);
    const counts = emptyCounts();
    let progressSum = 0;
    let bytesDone = 0;
    let bytesTotal = 0;
    let unknownTotals = 0;
    let speed = 0;
    let startedAt: Date | null = null;
    for (const r of rows) {
      const n = Number(r.n);
      counts[r.status] = n;
      counts.total += n;
      progressSum += Number(r.progress);
      bytesDone += Number(r.bytes_done);
      bytesTotal += Number(r.bytes_total ?? 0);
      unknownTotals += Number(r.unknown_totals);
      if (r.status === 'extracting' || r.status === 'downloading' || r.status === 'processing')
        speed += Number(r.speed);
      if (r.started_at && (!startedAt || r.started_at < startedAt)) startedAt = r.started_at;
    }
    const status = deriveParentStatus(counts);
    if (!status) return { task: parent, counts };
    const final = status === 'completed' || status === 'failed' || status === 'cancelled';
    const firstFailed =
      status === 'failed'
        ? await trx
            .selectFrom('download_tasks')
            .select(['error_code', 'error_message'])
            .where('parent_id', '=', parentId)
            .where('status', '=', 'failed')
            .orderBy('updated_at')
            .limit(1)
            .executeTakeFirst()
        : undefined;
    const fields: Updateable<DownloadTasksTable> = {
      progress: status === 'completed' ? 100 : Math.max(0, Math.min(100, progressSum / counts.total)),
      bytes_done: Math.round(bytesDone),
      bytes_total: unknownTotals === 0 ? Math.round(bytesTotal) : null,
      speed_bps: final ? null : Math.round(speed),
      eta_seconds: status === 'completed' ? 0 : null,
      started_at: parent.started_at ?? startedAt,
      completed_at: final ? (parent.completed_at ?? new Date()) : null,
      error_code: firstFailed ? (firstFailed.error_code ?? 'internal_error') : null,
      error_message: firstFailed
        ? `${counts.failed} of ${counts.total} downloads failed${firstFailed.error_message ? ` (first: ${firstFailed.error_message})` : ''}`
        : null,
      updated_at: new Date(),
    };
    const update = (f: Updateable<DownloadTasksTable>) =>
      trx.updateTable('download_tasks').set(f).where('id', '=', parentId).returningAll().executeTakeFirstOrThrow();
    if (status === parent.status) return { task: await update(fields), counts };
    try {
      // A savepoint: an index conflict must not abort the surrounding transaction.
      await sql`savepoint parent_status`.execute(trx);
      const task = await update({ ...fields, status });
      await sql`release savepoint parent_status`.execute(trx);
      return { task, counts };
    } catch (err) {
      // Back to an active status while another active parent exists for the same playlist and options.
      if ((err as { code?: string }).code !== '23505') throw err;
      await sql`rollback to savepoint parent_status`.execute(trx);
      return { task: await update(fields), counts };
    }
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/** Cancels every active child of a parent; returns the cancelled rows. */
export async function cancelChildren(db: Kysely<DB>, parentId: string): Promise<DownloadTask[]> {
  return db
    .updateTable('download_tasks')
    .set({ status: 'cancelled', error_code: null, error_message: null, updated_at: new Date() })
    .where('parent_id', '=', parentId)
    .where('status', 'in', ACTIVE_STATUSES)
    .returningAll()
    .execute();
}

/** Queues every failed or cancelled child of a parent again; returns the re-queued rows. */
export async function requeueChildren(db: Kysely<DB>, parentId: string): Promise<DownloadTask[]> {
  return db
    .updateTable('download_tasks')
    .set({
      status: 'queued',
      attempts: 0,
      error_code: null,
      error_message: null,
      progress: 0,
      completed_at: null,
      updated_at: new Date(),
    })
    .where('parent_id', '=', parentId)
    .where('status', 'in', ['failed', 'cancelled'])
    .returningAll()
    .execute();
}
