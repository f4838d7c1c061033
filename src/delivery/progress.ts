/**
 * Live progress: the latest state of a task in `task_progress:{task}` and
 * events on one pub/sub channel, so any api process can push them to its
 * WebSocket and SSE clients. Progress events are throttled to 4/s per task;
 * status changes and final events always go out. A removed task gets one
 * last message, `task_deleted`, so open views drop it.
 */
import type { Cache } from '../infra/cache/cache.js';
import type { DownloadTask, TaskStatus } from '../infra/db/schema.js';

export const TASK_EVENTS_CHANNEL = 'task_events';
export const PROGRESS_TTL_SECONDS = 3600;
export const MIN_INTERVAL_MS = 250;

export type TaskEventType = 'task_progress' | 'task_status' | 'task_completed' | 'task_failed' | 'download_complete';

export interface TaskEvent {
  type: TaskEventType;
  task_id: string;
  user_id: string | null;
  status: TaskStatus;
  progress: number;
  bytes_done: number;
  bytes_total: number | null;
  speed_bps: number | null;
  eta_seconds: number | null;
  error?: { code: string; message: string };
  file_size?: number;
  at: string;
}

/** A task removed with its files: it has no state left, only its id and owner (for the visibility filter). */
export interface TaskDeletedEvent {
  type: 'task_deleted';
  task_id: string;
  user_id: string | null;
  at: string;
}

/** Everything on the task events channel. */
export type TaskChannelEvent = TaskEvent | TaskDeletedEvent;

export function progressKey(taskId: string): string {
  return `task_progress:${taskId}`;
}

export class ProgressPublisher {
  private readonly lastSent = new Map<string, number>();

  constructor(
    private readonly cache: Cache,
    private readonly minIntervalMs = MIN_INTERVAL_MS,
  ) {}

  /** Throttled: returns false when the event was dropped (a newer one will follow). */
  async progress(event: Omit<TaskEvent, 'type' | 'at'>): Promise<boolean> {
    const now = Date.now();
    if (now - (this.lastSent.get(event.task_id) ?? 0) < this.minIntervalMs) return false;
    this.lastSent.set(event.task_id, now);
    await this.send({ ...event, type: 'task_progress', at: new Date(now).toISOString() });
    return true;
  }

  /** Never throttled: status changes and the end of a task. */
  async publish(type: Exclude<TaskEventType, 'task_progress'>, event: Omit<TaskEvent, 'type' | 'at'>): Promise<void> {
    if (type !== 'task_status') this.lastSent.delete(event.task_id);
    await this.send({ ...event, type, at: new Date().toISOString() });
  }

  /**
   * A task (row and files) is gone. Kept as its last event too: a client
   * subscribing while it was being removed gets this rather than a stale state.
   */
  async deleted(task: Pick<DownloadTask, 'id' | 'user_id'>): Promise<void> {
    this.lastSent.delete(task.id);
    await this.send({ type: 'task_deleted', task_id: task.id, user_id: task.user_id, at: new Date().toISOString() });
  }

  private async send(event: TaskChannelEvent): Promise<void> {
    const json = JSON.stringify(event);
    await this.cache.set(progressKey(event.task_id), json, PROGRESS_TTL_SECONDS);
    await this.cache.publish(TASK_EVENTS_CHANNEL, json);
  }
}

export async function lastEvent(cache: Cache, taskId: string): Promise<TaskChannelEvent | null> {
  const raw = await cache.get(progressKey(taskId));
  return raw ? (JSON.parse(raw) as TaskChannelEvent) : null;
}

/** The public fields of a task row, as carried by every event. */
export function taskEvent(task: DownloadTask): Omit<TaskEvent, 'type' | 'at'> {
  return {
    task_id: task.id,
    user_id: task.user_id,
    status: task.status,
    progress: task.progress,
    bytes_done: task.bytes_done,
    bytes_total: task.bytes_total,
    speed_bps: task.speed_bps,
    eta_seconds: task.eta_seconds,
    ...(task.file_size !== null ? { file_size: task.file_size } : {}),
    ...(task.error_code ? { error: { code: task.error_code, message: task.error_message ?? '' } } : {}),
  };
}
