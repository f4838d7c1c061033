/** Task state on the client: merging list reads with live events, newest wins. */
import type { LiveEvent, Task, TaskEvent } from '../api/types';

export const ACTIVE = ['queued', 'extracting', 'downloading', 'processing'];
export const isActive = (t: Pick<Task, 'status'>) => ACTIVE.includes(t.status);
export const canRetry = (t: Pick<Task, 'status'>) => t.status === 'failed' || t.status === 'cancelled';

/** The fresher of two views of one task (ISO timestamps compare as strings). */
export function newer(a: Task, b: Task): Task {
  return b.updated_at >= a.updated_at ? b : a;
}

export function applyEvent(task: Task, e: TaskEvent): Task {
  if (e.at < task.updated_at) return task;
  return {
    ...task,
    status: e.status,
    progress: e.progress,
    bytes_done: e.bytes_done,
    bytes_total: e.bytes_total,
    speed_bps: e.speed_bps,
    eta_seconds: e.eta_seconds,
    error: e.error ?? (e.status === 'failed' ? task.error : null),
    file_size: e.file_size ?? task.file_size,
    file_url: e.status === 'completed' ? `/api/v2/downloads/${task.id}/file` : task.file_url,
    updated_at: e.at,
  };
}

/** A list of tasks after a live event: the task updated, or dropped when it was removed. */
export function applyToList(list: Task[], e: LiveEvent): Task[] {
  if (e.type === 'task_deleted') return list.filter((t) => t.id !== e.task_id);
  return list.map((t) => (t.id === e.task_id ? applyEvent(t, e) : t));
}
