/**
 * In-process queue for the embedded default: a FIFO with timers for delays,
 * a concurrency cap, per-group caps, cancel and counts. Nothing persists: a
 * restarted process starts empty and the domain re-enqueues from the database.
 */
import { LRUCache } from 'lru-cache';
import type { ConsumeOptions, EnqueueOptions, Job, JobHandler, JobQueue } from './queue.js';

/** Why a job's signal was aborted. */
export type JobAbortKind =
  /** cancel(taskId) from any process: the task should stop for good. */
  | 'cancelled'
  /** close() of the consuming queue: the job runs again later (BullMQ) or is re-enqueued from the database. */
  | 'shutdown'
  /** BullMQ only: this worker lost the job's lock, another worker may already run it. */
  | 'lost';

/** The `signal.reason` of an aborted job; `name` is 'AbortError' like every other abort. */
export class JobAbortedError extends Error {
  override readonly name = 'AbortError';
  constructor(readonly kind: JobAbortKind) {
    super(kind === 'lost' ? 'job lock lost' : `job ${kind}`);
  }
}

/** The kind of abort, or undefined while the signal is not aborted (or was aborted by someone else). */
export function abortKindOf(signal: AbortSignal): JobAbortKind | undefined {
  return signal.aborted && signal.reason instanceof JobAbortedError ? signal.reason.kind : undefined;
}

/** Options shared by both implementations. */
export interface QueueRuntimeOptions {
  /** close() waits this long for aborted handlers to return (default 10 000 ms). */
  closeGraceMs?: number;
  /** Handler failures and background errors (never thrown at the caller). */
  onError?: (err: unknown, taskId?: string) => void;
}

export const DEFAULT_CLOSE_GRACE_MS = 10_000;

/** Resolves when every promise settled or after ms, whichever comes first; true if all settled. */
export async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  if (promises.length === 0) return true;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([Promise.allSettled(promises).then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Entry {
  taskId: string;
  group: string | undefined;
  state: 'waiting' | 'delayed' | 'active';
  timer?: NodeJS.Timeout;
  controller?: AbortController;
  /** Set by enqueue() while active: one more run after this one, this many ms after it ends. */
  rerunDelayMs?: number;
  done?: Promise<void>;
}

export class MemoryQueue implements JobQueue {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  /** Task ids in the waiting state, oldest first. */
  private waiting: string[] = [];
  /** Runs started per task, kept across jobs so a re-enqueued task counts on (bounded memory). */
  private readonly attempts = new LRUCache<string, number>({ max: 100_000 });
  private readonly groupActive = new Map<string, number>();
  private handler: JobHandler | undefined;
  private concurrency = 0;
  private groupLimits: Record<string, number> = {};
  private active = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: QueueRuntimeOptions = {}) {}

  async enqueue(taskId: string, opts: EnqueueOptions = {}): Promise<void> {
    if (this.closing) throw new Error('queue is closed');
    const delayMs = Math.max(0, opts.delayMs ?? 0);
    const existing = this.entries.get(taskId);
    if (existing) {
      // Waiting or delayed: already queued, the first schedule stands. Active: never a second
      // concurrent run, but one more run after this one (a retry enqueued from inside the handler).
      if (existing.state === 'active') existing.rerunDelayMs = delayMs;
      return;
    }
    const entry: Entry = { taskId, group: opts.group, state: 'waiting' };
    this.entries.set(taskId, entry);
    this.schedule(entry, delayMs);
  }

  async consume(handler: JobHandler, opts: ConsumeOptions): Promise<void> {
    if (this.closing) throw new Error('queue is closed');
    if (this.handler) throw new Error('queue is already consuming');
    if (!(opts.concurrency >= 1)) throw new Error('concurrency must be at least 1');
    this.handler = handler;
    this.concurrency = Math.floor(opts.concurrency);
    this.groupLimits = { ...opts.groupLimits };
    this.pump();
  }

  async cancel(taskId: string): Promise<void> {
    const entry = this.entries.get(taskId);
    if (!entry) return;
    if (entry.state === 'active') {
      entry.rerunDelayMs = undefined;
      entry.controller?.abort(new JobAbortedError('cancelled'));
      return;
    }
    if (entry.state === 'delayed') clearTimeout(entry.timer);
    else this.waiting.splice(this.waiting.indexOf(taskId), 1);
    this.entries.delete(taskId);
  }

  async counts(): Promise<{ waiting: number; active: number; delayed: number }> {
    const c = { waiting: 0, active: 0, delayed: 0 };
    for (const e of this.entries.values()) c[e.state]++;
    return c;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const running: Promise<void>[] = [];
      for (const e of this.entries.values()) {
        if (e.state === 'delayed') clearTimeout(e.timer);
        if (e.state === 'active') {
          e.controller?.abort(new JobAbortedError('shutdown'));
          if (e.done) running.push(e.done);
        }
      }
      this.waiting = [];
      await settleWithin(running, this.opts.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS);
      this.entries.clear();
    })();
    return this.closing;
  }

  private schedule(entry: Entry, delayMs: number): void {
    if (delayMs > 0) {
      entry.state = 'delayed';
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        entry.state = 'waiting';
        this.waiting.push(entry.taskId);
        this.pump();
      }, delayMs);
    } else {
      entry.state = 'waiting';
      this.waiting.push(entry.taskId);
      this.pump();
    }
  }

  private groupHasRoom(group: string | undefined): boolean {
    const limit = group === undefined ? undefined : this.groupLimits[group];
    return limit === undefined || (this.groupActive.get(group!) ?? 0) < limit;
  }

  /** Starts waiting jobs, oldest first, skipping those whose group is at its cap. */
  private pump(): void {
    if (!this.handler || this.closing) return;
    for (let i = 0; i < this.waiting.length && this.active < this.concurrency;) {
      const entry = this.entries.get(this.waiting[i]!)!;
      if (!this.groupHasRoom(entry.group)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.start(entry, this.handler);
    }
  }

  private start(entry: Entry, handler: JobHandler): void {
    entry.state = 'active';
    this.active++;
    if (entry.group !== undefined) this.groupActive.set(entry.group, (this.groupActive.get(entry.group) ?? 0) + 1);
    const attempt = (this.attempts.get(entry.taskId) ?? 0) + 1;
    this.attempts.set(entry.taskId, attempt);
    const controller = new AbortController();
    entry.controller = controller;
    const job: Job = { taskId: entry.taskId, attempt, signal: controller.signal, heartbeat: async () => {} };
    entry.done = (async () => {
      try {
        await Promise.resolve(); // never run handler code on the enqueuer's stack
        await handler(job);
      } catch (err) {
        if (!controller.signal.aborted) this.opts.onError?.(err, entry.taskId);
      } finally {
        this.finish(entry);
      }
    })();
  }

  private finish(entry: Entry): void {
    this.active--;
    if (entry.group !== undefined) this.groupActive.set(entry.group, (this.groupActive.get(entry.group) ?? 1) - 1);
    entry.controller = undefined;
    entry.done = undefined;
    if (this.closing) return; // an interrupted job is not kept: the domain re-enqueues from the database
    const rerun = entry.rerunDelayMs;
    entry.rerunDelayMs = undefined;
    if (rerun === undefined) this.entries.delete(entry.taskId);
    else this.schedule(entry, rerun);
    this.pump();
  }
}
