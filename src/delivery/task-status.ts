/**
 * The task state machine. Transitions are conditional updates in the
 * database (`where status in (from)`), so two processes can never both move
 * one task: the loser's update matches no row.
 */
import type { TaskStatus } from '../infra/db/schema.js';

export const ACTIVE_STATUSES: readonly TaskStatus[] = ['queued', 'extracting', 'downloading', 'processing'];
export const RUNNING_STATUSES: readonly TaskStatus[] = ['extracting', 'downloading', 'processing'];
export const FINAL_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];

/** Which states may lead to which. */
export const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  queued: ['extracting', 'cancelled', 'failed'],
  extracting: ['downloading', 'queued', 'failed', 'cancelled'],
  downloading: ['processing', 'queued', 'failed', 'cancelled'],
  processing: ['completed', 'queued', 'failed', 'cancelled'],
  completed: [],
  failed: ['queued'],
  cancelled: ['queued'],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Every state that may move to `to`. */
export function sourcesOf(to: TaskStatus): TaskStatus[] {
  return (Object.keys(TRANSITIONS) as TaskStatus[]).filter((s) => TRANSITIONS[s].includes(to));
}
