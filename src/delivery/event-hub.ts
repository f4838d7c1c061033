/**
 * One subscription to the task event channel per process, fanned out to the
 * WebSocket and SSE connections of this process. With Redis, events
 * published by any worker reach every api process.
 */
import type { Cache, Unsubscribe } from '../infra/cache/cache.js';
import { TASK_EVENTS_CHANNEL, type TaskChannelEvent } from './progress.js';

export type TaskEventListener = (event: TaskChannelEvent) => void;

export class EventHub {
  private readonly listeners = new Set<TaskEventListener>();
  private unsubscribe: Promise<Unsubscribe> | undefined;

  constructor(private readonly cache: Cache) {}

  /** Adds a listener; the returned function removes it. */
  async listen(listener: TaskEventListener): Promise<() => void> {
    this.unsubscribe ??= this.cache.subscribe(TASK_EVENTS_CHANNEL, (raw) => this.dispatch(raw));
    await this.unsubscribe;
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private dispatch(raw: string): void {
    let event: TaskChannelEvent;
    try {
      event = JSON.parse(raw) as TaskChannelEvent;
    } catch {
      return;
    }
    for (const l of this.listeners) l(event);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    const unsubscribe = await this.unsubscribe;
    await unsubscribe?.();
  }
}
