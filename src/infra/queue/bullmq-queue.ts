/**
 * BullMQ queue for the distributed mode: any number of api and worker
 * processes share one Redis. One BullMQ job per task (jobId = taskId), kept
 * only while waiting, delayed or active; BullMQ never retries (attempts 1),
 * the domain does by enqueueing again. A worker that dies mid-job loses its
 * lock and the stalled-job check of any other worker puts the job back in
 * the wait list.
 *
 * Beside BullMQ's own keys ({prefix}:downloads:*) this adapter keeps, under
 * {prefix}:ytbh:downloads:*,
 *   pending          hash taskId → delayMs of the latest enqueue not yet taken by a run
 *                    (so an enqueue while the job is active leads to exactly one more run)
 *   cancelled:{id}   set by cancel(), cleared by enqueue(): a job that is fetched anyway
 *                    (cancel raced the fetch, or it came back after a crash) is skipped
 *   attempt:{id}     runs started for the task, across jobs (Job.attempt)
 *   cancel           pub/sub channel: every consuming process aborts its run of the task
 */
import { EventEmitter } from 'node:events';
import { DelayedError, Queue, WaitingError, Worker, type Job as BullJob } from 'bullmq';
import { Redis } from 'ioredis';
import type { ConsumeOptions, EnqueueOptions, JobHandler, JobQueue } from './queue.js';
import {
  abortKindOf,
  DEFAULT_CLOSE_GRACE_MS,
  JobAbortedError,
  settleWithin,
  type QueueRuntimeOptions,
} from './memory-queue.js';

export const QUEUE_NAME = 'downloads';

export interface BullmqQueueOptions extends QueueRuntimeOptions {
  /** BullMQ key prefix (keys look like {prefix}:downloads:wait); default 'ytbh'. */
  prefix?: string;
  /** A job whose worker stops renewing its lock this long is taken over (default 30 000 ms). */
  lockDurationMs?: number;
  /** How often workers look for stalled jobs (default 30 000 ms). */
  stalledIntervalMs?: number;
  /** Stalls (worker deaths) tolerated per job before BullMQ fails it (default 10). */
  maxStalledCount?: number;
}

interface JobData {
  group?: string;
}

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

/** A job whose group is full waits this long in the process for a slot, then goes back to Redis. */
const GROUP_HOLD_MS = 250;
/** … for this long, so another worker (or this one, later) can take it. */
const GROUP_DELAY_MS = 1000;
const CANCEL_MARK_MS = 24 * 3600_000;
const ATTEMPT_TTL_MS = 7 * 24 * 3600_000;

// Cancelled → 0 (do not run). Otherwise the run takes every pending enqueue and counts an attempt.
const START_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
local n = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return n`;

/** Thrown to BullMQ for a failed handler: BullMQ must not read meaning into the handler's error name. */
class HandlerFailedError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'HandlerFailedError';
  }
}

export class BullmqQueue implements JobQueue {
  readonly kind = 'bullmq' as const;
  private readonly prefix: string;
  private readonly lockDurationMs: number;
  /** Producer side: Queue, enqueue/cancel bookkeeping, publish. Fails fast when Redis is down. */
  private readonly client: Redis;
  private readonly queue: Queue<JobData>;
  /** Consumer side (created by consume): commands wait for Redis instead of failing a job. */
  private workerConnection: Redis | undefined;
  private subscriber: Redis | undefined;
  private worker: Worker<JobData> | undefined;
  private handler: JobHandler | undefined;
  private groupLimits: Record<string, number> = {};
  private readonly groupActive = new Map<string, number>();
  private readonly groupFreed = new EventEmitter();
  private readonly running = new Map<string, Running>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    private readonly opts: BullmqQueueOptions = {},
  ) {
    this.prefix = (opts.prefix ?? 'ytbh').replace(/:+$/, '');
    this.lockDurationMs = opts.lockDurationMs ?? 30_000;
    this.client = new Redis(url, { maxRetriesPerRequest: 2 });
    this.client.on('error', () => {}); // surfaced through failing commands
    this.queue = new Queue<JobData>(QUEUE_NAME, { connection: this.client, prefix: this.prefix });
    this.queue.on('error', (err) => this.opts.onError?.(err));
    this.groupFreed.setMaxListeners(0);
  }

  private key(name: string): string {
    return `${this.prefix}:ytbh:${QUEUE_NAME}:${name}`;
  }

  private get pendingKey(): string {
    return this.key('pending');
  }

  async enqueue(taskId: string, opts: EnqueueOptions = {}): Promise<void> {
    if (this.closing) throw new Error('queue is closed');
    const delayMs = Math.max(0, Math.round(opts.delayMs ?? 0));
    await this.client
      .multi()
      .del(this.key(`cancelled:${taskId}`))
      .hset(this.pendingKey, taskId, String(delayMs))
      .exec();
    await this.addJob(taskId, opts.group, delayMs);
  }

  /** A no-op while a job with this id is waiting, delayed or active (BullMQ keeps the first). */
  private async addJob(taskId: string, group: string | undefined, delayMs: number): Promise<void> {
    await this.queue.add('task', group === undefined ? {} : { group }, {
      jobId: taskId,
      delay: delayMs,
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  async consume(handler: JobHandler, opts: ConsumeOptions): Promise<void> {
    if (this.closing) throw new Error('queue is closed');
    if (this.handler) throw new Error('queue is already consuming');
    if (!(opts.concurrency >= 1)) throw new Error('concurrency must be at least 1');
    this.handler = handler;
    this.groupLimits = { ...opts.groupLimits };

    const subscriber = this.client.duplicate({ maxRetriesPerRequest: null });
    this.subscriber = subscriber;
    subscriber.on('error', () => {});
    const channel = this.key('cancel');
    subscriber.on('message', (ch: string, taskId: string) => {
      if (ch === channel) this.abortLocal(taskId, 'cancelled');
    });
    await subscriber.subscribe(channel);

    const connection = new Redis(this.url, { maxRetriesPerRequest: null });
    this.workerConnection = connection;
    connection.on('error', () => {});
    const worker = new Worker<JobData>(QUEUE_NAME, (job, token) => this.process(job, token, connection), {
      connection,
      prefix: this.prefix,
      concurrency: Math.floor(opts.concurrency),
      autorun: false,
      lockDuration: this.lockDurationMs,
      stalledInterval: this.opts.stalledIntervalMs ?? 30_000,
      maxStalledCount: this.opts.maxStalledCount ?? 10,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 0 },
    });
    this.worker = worker;
    worker.on('error', (err) => this.opts.onError?.(err));
    // Lock lost (event loop blocked too long, Redis trouble): another worker may run the job now.
    worker.on('lockRenewalFailed', (ids) => ids.forEach((id) => this.abortLocal(id, 'lost')));
    // An enqueue that landed between the run's last check and the job's removal: add it now.
    worker.on('completed', (job) => void this.addIfPending(job));
    worker.on('failed', (job) => void (job && this.addIfPending(job)));
    worker.run().catch((err) => this.opts.onError?.(err));
    await worker.waitUntilReady();
  }

  private abortLocal(taskId: string, kind: 'cancelled' | 'lost'): void {
    const run = this.running.get(taskId);
    if (run && !run.controller.signal.aborted) run.controller.abort(new JobAbortedError(kind));
  }

  private async addIfPending(job: BullJob<JobData>): Promise<void> {
    if (this.closing || !job.id) return;
    try {
      const delay = await this.client.hget(this.pendingKey, job.id);
      if (delay !== null) await this.addJob(job.id, job.data.group, Number(delay));
    } catch (err) {
      this.opts.onError?.(err, job.id);
    }
  }

  /**
   * The BullMQ processor. Returning completes the job, throwing fails it (both remove it);
   * DelayedError/WaitingError after moving the job ourselves keep it. A failed Redis call
   * of ours must never fail the job: it leaves the job active, its lock expires and the
   * stalled check puts it back.
   */
  private async process(job: BullJob<JobData>, token: string | undefined, redis: Redis): Promise<void> {
    const taskId = job.id!;
    const group = job.data.group;
    if (this.closing) await this.requeue(job, token);
    if (!(await this.takeGroupSlot(group))) {
      if (this.closing) await this.requeue(job, token);
      await job.moveToDelayed(Date.now() + GROUP_DELAY_MS, token).catch((err) => this.opts.onError?.(err, taskId));
      throw new DelayedError();
    }
    const controller = new AbortController();
    let settled!: () => void;
    this.running.set(taskId, { controller, done: new Promise<void>((r) => (settled = r)) });
    try {
      let attempt: number;
      try {
        attempt = Number(
          await redis.eval(
            START_SCRIPT,
            3,
            this.key(`cancelled:${taskId}`),
            this.pendingKey,
            this.key(`attempt:${taskId}`),
            taskId,
            String(ATTEMPT_TTL_MS),
          ),
        );
      } catch (err) {
        this.opts.onError?.(err, taskId);
        throw new WaitingError(); // stays active: retried after the lock expires
      }
      if (attempt === 0) return; // cancelled before it started
      let failure: unknown;
      let failed = false;
      if (!controller.signal.aborted) {
        try {
          await this.handler!({ taskId, attempt, signal: controller.signal, heartbeat: this.heartbeat(job, token) });
        } catch (err) {
          failure = err;
          failed = true;
        }
      }
      const aborted = abortKindOf(controller.signal);
      if (aborted === 'shutdown') await this.requeue(job, token);
      if (aborted === 'lost') throw controller.signal.reason; // not ours any more; BullMQ's move fails harmlessly
      let rerun: string | null = null;
      try {
        rerun = await redis.hget(this.pendingKey, taskId);
      } catch (err) {
        this.opts.onError?.(err, taskId);
      }
      if (rerun !== null) {
        await job.moveToDelayed(Date.now() + Number(rerun), token).catch((err) => this.opts.onError?.(err, taskId));
        throw new DelayedError();
      }
      if (failed) {
        if (aborted !== 'cancelled') this.opts.onError?.(failure, taskId);
        throw new HandlerFailedError(failure);
      }
    } finally {
      this.running.delete(taskId);
      this.releaseGroupSlot(group);
      settled();
    }
  }

  /** Back to the head of the wait list at once (close while fetching or running). */
  private async requeue(job: BullJob<JobData>, token: string | undefined): Promise<never> {
    await job.moveToWait(token).catch(() => {}); // failing that, the lock expires and the stalled check does it
    throw new WaitingError();
  }

  private heartbeat(job: BullJob<JobData>, token: string | undefined): () => Promise<void> {
    let last = Date.now();
    return async () => {
      if (!token || Date.now() - last < this.lockDurationMs / 4) return;
      last = Date.now();
      try {
        if (Number(await job.extendLock(token, this.lockDurationMs)) !== 1) this.abortLocal(job.id!, 'lost');
      } catch {
        // BullMQ's own renewal keeps trying; a lost lock is reported through lockRenewalFailed
      }
    };
  }

  /** Reserves a slot in the job's group, waiting up to GROUP_HOLD_MS for one to free up. */
  private async takeGroupSlot(group: string | undefined): Promise<boolean> {
    if (group === undefined) return true;
    const limit = this.groupLimits[group];
    if (limit === undefined) return true;
    const deadline = Date.now() + GROUP_HOLD_MS;
    while ((this.groupActive.get(group) ?? 0) >= limit) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closing) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.groupFreed.off(group, done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.groupFreed.on(group, done);
      });
    }
    this.groupActive.set(group, (this.groupActive.get(group) ?? 0) + 1);
    return true;
  }

  private releaseGroupSlot(group: string | undefined): void {
    if (group === undefined || this.groupLimits[group] === undefined) return;
    this.groupActive.set(group, (this.groupActive.get(group) ?? 1) - 1);
    this.groupFreed.emit(group);
  }

  async cancel(taskId: string): Promise<void> {
    await this.client
      .multi()
      .set(this.key(`cancelled:${taskId}`), '1', 'PX', CANCEL_MARK_MS)
      .hdel(this.pendingKey, taskId)
      .exec();
    try {
      await this.queue.remove(taskId); // waiting or delayed; 0 when a worker holds it
    } catch {
      // a job in a state remove refuses: the cancelled mark keeps it from running
    }
    this.abortLocal(taskId, 'cancelled');
    await this.client.publish(this.key('cancel'), taskId);
  }

  async counts(): Promise<{ waiting: number; active: number; delayed: number }> {
    const c = await this.queue.getJobCounts('wait', 'active', 'delayed');
    return { waiting: c.wait ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0 };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const worker = this.worker;
      if (worker) {
        // Stop fetching, abort what runs; each aborted run puts its job back at the head of the wait list.
        await worker.pause(true).catch(() => {});
        const runs = [...this.running.values()];
        for (const run of runs) run.controller.abort(new JobAbortedError('shutdown'));
        const settled = await settleWithin(
          runs.map((r) => r.done),
          this.opts.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS,
        );
        // A handler that ignores its signal is left behind: its lock lapses and another worker takes the job.
        await worker.close(!settled).catch(() => {});
      }
      await Promise.allSettled([this.queue.close()]);
      await Promise.allSettled([this.subscriber?.quit(), this.workerConnection?.quit(), this.client.quit()]);
    })();
    return this.closing;
  }
}
