/**
 * Removing finished downloads (completed, failed or cancelled): their stored
 * objects (media, thumbnail, sidecar subtitles) through the storage adapter,
 * so local disk and S3 alike, then the row. Storage goes first: when it fails
 * the row stays (and still points at what is left), so the user can try again
 * and nothing is orphaned. Storage usage (quotas, the storage_usage_bytes
 * gauge) is summed from the rows, so it drops with them. Each removed task
 * is announced on the task events channel (`task_deleted`), so the owner's
 * open views on every api process drop it.
 */
import { rm } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { AppError } from '../errors/app-error.js';
import type { DB, DownloadTask } from '../infra/db/schema.js';
import type { ObjectStorage } from '../infra/storage/storage.js';
import { workDir } from './pipeline.js';
import type { ProgressPublisher } from './progress.js';
import { sidecarKey, subtitleRecordOf } from './subtitles.js';
import { aggregateParent } from './tasks.js';
import { ACTIVE_STATUSES, FINAL_STATUSES } from './task-status.js';

export interface RemovalDeps {
  db: Kysely<DB>;
  storage: ObjectStorage;
  dataDir: string;
  log: Logger;
  publisher: ProgressPublisher;
}

/** Every object a task may have in storage. */
export function storedKeysOf(task: Pick<DownloadTask, 'file_path' | 'thumbnail_path' | 'selected_formats'>): string[] {
  const media = task.file_path;
  if (!media && !task.thumbnail_path) return [];
  const keys = media ? [media] : [];
  // Tasks stored before thumbnail_path was recorded: the layout's `{stem}_thumbnail.jpg` (deleting a missing key is a no-op).
  const thumbnail = task.thumbnail_path ?? (media ? `${stemOf(media)}_thumbnail.jpg` : null);
  if (thumbnail) keys.push(thumbnail);
  if (media) {
    for (const f of subtitleRecordOf(task.selected_formats)?.files ?? []) {
      keys.push(sidecarKey(media, f.language, f.format));
    }
  }
  return keys;
}

function stemOf(key: string): string {
  const dot = key.lastIndexOf('.');
  return dot > key.lastIndexOf('/') ? key.slice(0, dot) : key;
}

async function deleteObjects(deps: RemovalDeps, taskId: string, keys: string[]): Promise<void> {
  for (const key of keys) {
    try {
      await deps.storage.delete(key);
    } catch (err) {
      deps.log.error({ err, key, task: taskId }, 'could not delete a stored object');
      throw new AppError(
        'storage_error',
        'The stored files could not be removed; the download was kept, so you can try again',
        { task_id: taskId },
        { cause: err },
      );
    }
  }
}

/** The row is gone whatever happens here: a lost event only leaves a stale item in a view until it re-reads. */
async function announceRemoval(deps: RemovalDeps, task: Pick<DownloadTask, 'id' | 'user_id'>): Promise<void> {
  await deps.publisher.deleted(task).catch((err: unknown) => {
    deps.log.warn({ err, task: task.id }, 'could not announce a removed download');
  });
}

/**
 * Removes one finished download: its objects, its row, its work directory
 * (a failed task keeps partial files for a retry). A playlist entry's parent
 * is brought up to date afterwards unless `refreshParent` is false.
 */
export async function removeTask(deps: RemovalDeps, task: DownloadTask, refreshParent = true): Promise<void> {
  if (!FINAL_STATUSES.includes(task.status)) {
    throw new AppError('conflict', `The download is ${task.status}: cancel it first`, { status: task.status });
  }
  await deleteObjects(deps, task.id, storedKeysOf(task));
  const gone = await deps.db
    .deleteFrom('download_tasks')
    .where('id', '=', task.id)
    .where('status', 'in', FINAL_STATUSES)
    .returning('parent_id')
    .executeTakeFirst();
  // Only failed and cancelled tasks can move (a retry), and they have nothing in storage.
  if (!gone) throw new AppError('conflict', 'The download was queued again meanwhile');
  await announceRemoval(deps, task);
  await rm(workDir(deps.dataDir, task.id), { recursive: true, force: true });
  if (gone.parent_id && refreshParent) await aggregateParent(deps.db, gone.parent_id).catch(() => undefined);
}

/**
 * Removes a finished playlist download: each entry as removeTask does, then
 * the parent. A storage failure stops it with the entries not yet removed
 * (and the parent) still there, so trying again finishes the job.
 */
export async function removePlaylist(deps: RemovalDeps, parent: DownloadTask): Promise<void> {
  const children = await deps.db.selectFrom('download_tasks').selectAll().where('parent_id', '=', parent.id).execute();
  const active = children.filter((c) => ACTIVE_STATUSES.includes(c.status));
  if (active.length) {
    throw new AppError('conflict', `${active.length} of the playlist's downloads are still active: cancel it first`, {
      active: active.length,
    });
  }
  // An entry queued again meanwhile (a retry) stops this with a conflict before the parent goes.
  for (const child of children) await removeTask(deps, child, false);
  await deps.db.deleteFrom('download_tasks').where('id', '=', parent.id).execute();
  await announceRemoval(deps, parent);
}
