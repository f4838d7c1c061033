/**
 * The queue port. The database row is the truth about a task; the queue
 * only says "work on task X". Two implementations: in-process (embedded
 * default) and BullMQ on Redis (any number of worker processes).
 */
export type QueueKind = 'memory' | 'bullmq';

export interface Job {
  /** The download task id; at most one job per task is waiting or active. */
  taskId: string;
  /** 1 on the first run; counts re-runs after a crash or a stall. */
  attempt: number;
  /** Aborted when the task is cancelled (from any process) or the worker shuts down. */
  signal: AbortSignal;
  /** For long work: proves the worker is alive (BullMQ renews its lock on its own while the loop is free). */
  heartbeat(): Promise<void>;
}

export interface EnqueueOptions {
  /** Run no earlier than this many ms from now (retry backoff). */
  delayMs?: number;
  /** Group for the per-platform concurrency cap. */
  group?: string;
}

export interface ConsumeOptions {
  concurrency: number;
  /** Per-group cap across this worker's slots (e.g. { youtube: 2 }). */
  groupLimits?: Record<string, number>;
}

export type JobHandler = (job: Job) => Promise<void>;

export interface JobQueue {
  readonly kind: QueueKind;
  enqueue(taskId: string, opts?: EnqueueOptions): Promise<void>;
  /** Starts consuming in this process; returns once consumers are running. */
  consume(handler: JobHandler, opts: ConsumeOptions): Promise<void>;
  /** Removes a waiting job and aborts a running one, wherever it runs. */
  cancel(taskId: string): Promise<void>;
  counts(): Promise<{ waiting: number; active: number; delayed: number }>;
  /** Stops taking jobs, aborts running ones (they are picked up again later), closes connections. */
  close(): Promise<void>;
}
