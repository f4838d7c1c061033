/**
 * The worker role: consumes the queue, runs the pipeline per task, and
 * decides what a failure means — retry later (transient), fail (permanent),
 * or nothing (cancelled, or shutting down: the task is picked up again).
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { AppError, isAppError } from '../errors/app-error.js';
import type { Config } from '../config/config.js';
import type { JobQueue, Job } from '../infra/queue/queue.js';
import type { Metrics } from '../metrics/metrics.js';
import { abortKindOf } from '../infra/queue/memory-queue.js';
import { runPipeline, workDir, type PipelineDeps } from './pipeline.js';
import { getTask, transition, unfinishedTaskIds } from './tasks.js';
import { FINAL_STATUSES } from './task-status.js';
import { isRetryable } from './downloader/common.js';
import { taskEvent } from './progress.js';
import { admissionDelayMs, admitRun } from '../accounts/quotas.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TRANSIENT_CODES = new Set(['upstream_error', 'upstream_timeout', 'rate_limited']);

export function isTransient(err: unknown): boolean {
  if (isRetryable(err)) return true;
  return (
    isAppError(err) &&
    TRANSIENT_CODES.has(err.code) &&
    (err.details as { reason?: string } | undefined)?.reason !== 'size_mismatch'
  );
}

export function backoffMs(attempt: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

export interface WorkerDeps extends PipelineDeps {
  queue: JobQueue;
  config: Config;
  metrics: Metrics;
  log: Logger;
}

export class DownloadWorker {
  constructor(private readonly deps: WorkerDeps) {}

  /** Re-queues what the database says is unfinished (a restart loses no task), then consumes. */
  async start(): Promise<void> {
    await this.sweepWorkDirs();
    for (const t of await unfinishedTaskIds(this.deps.db)) await this.deps.queue.enqueue(t.id, { group: t.platform });
    const groupLimits = Object.fromEntries(Object.entries(this.deps.config.platformConcurrency)) as Record<
      string,
      number
    >;
    await this.deps.queue.consume((job) => this.handle(job), {
      concurrency: this.deps.config.workerConcurrency,
      groupLimits,
    });
  }

  /**
   * Removes the work directories of tasks that will never run again: a crash between a task's
   * `completed` (or `cancelled`) row and the removal of its directory, or a task that is gone,
   * would otherwise leave its files on disk for good. Failed tasks keep theirs (a retry resumes).
   */
  private async sweepWorkDirs(): Promise<void> {
    const root = path.dirname(workDir(this.deps.dataDir, 'x'));
    const ids = (await readdir(root).catch(() => [] as string[])).filter((n) => UUID.test(n));
    if (ids.length === 0) return;
    const rows = await this.deps.db
      .selectFrom('download_tasks')
      .select(['id', 'status'])
      .where('id', 'in', ids)
      .execute();
    const keep = new Set(rows.filter((r) => r.status !== 'completed' && r.status !== 'cancelled').map((r) => r.id));
    for (const id of ids) {
      if (!keep.has(id)) await rm(path.join(root, id), { recursive: true, force: true });
    }
  }

  async handle(job: Job): Promise<void> {
    const { db, publisher, metrics } = this.deps;
    const task = await getTask(db, job.taskId);
    if (!task || FINAL_STATUSES.includes(task.status)) return;
    // The user's concurrent limit is enforced here, at run time: over it, the task waits in the queue (still
    // `queued`) and asks again later, instead of failing at creation. The check and the move to `extracting`
    // share one transaction under the user's quota lock, so workers in other processes cannot overshoot it.
    const admission = await admitRun(db, task, (trx) =>
      transition(
        trx,
        task.id,
        'extracting',
        {
          started_at: task.started_at ?? new Date(),
          attempts: task.attempts + 1,
          error_code: null,
          error_message: null,
        },
        ['queued', 'extracting', 'downloading', 'processing'],
      ),
    );
    if (!admission.admitted) {
      if (job.signal.aborted) return; // shutting down: the task is still queued in the database
      await this.deps.queue.enqueue(task.id, { delayMs: admissionDelayMs(job.attempt), group: task.platform });
      return;
    }
    const started = admission.value;
    if (!started) return;
    await publisher.publish('task_status', taskEvent(started));
    metrics.activeDownloads.inc();
    const begun = Date.now();
    try {
      const done = await runPipeline(this.deps, started, job.signal);
      const event = taskEvent(done);
      await publisher.publish('task_completed', event);
      await publisher.publish('download_complete', event);
      metrics.downloadRequests.inc({
        platform: done.platform,
        user_tier: done.user_id ? 'user' : 'anonymous',
        status: 'completed',
      });
      metrics.downloadDuration.observe({ platform: done.platform, quality: done.quality }, (Date.now() - begun) / 1000);
    } catch (err) {
      await this.onFailure(job, started.id, err);
    } finally {
      metrics.activeDownloads.dec();
    }
  }

  private async onFailure(job: Job, taskId: string, err: unknown): Promise<void> {
    const { db, publisher, metrics, log, queue, config } = this.deps;
    const kind = abortKindOf(job.signal);
    if (kind === 'cancelled') {
      await rm(workDir(this.deps.dataDir, taskId), { recursive: true, force: true });
      return;
    }
    if (kind) return; // shutting down or lost the lock: another run continues from the .part files
    const task = await getTask(db, taskId);
    if (!task || FINAL_STATUSES.includes(task.status)) return;
    const appErr = isAppError(err) ? err : new AppError('internal_error', 'The download failed unexpectedly');
    if (!isAppError(err)) log.error({ err, task: taskId }, 'download failed unexpectedly');
    if (isTransient(err) && task.attempts < config.maxAttempts) {
      const delay = backoffMs(task.attempts);
      const back = await transition(db, taskId, 'queued', {
        error_code: appErr.code,
        error_message: `${appErr.message} (retrying)`,
      });
      if (back) {
        await queue.enqueue(taskId, { delayMs: delay, group: task.platform });
        await publisher.publish('task_status', taskEvent(back));
      }
      return;
    }
    const failed = await transition(db, taskId, 'failed', { error_code: appErr.code, error_message: appErr.message });
    if (failed) {
      await publisher.publish('task_failed', taskEvent(failed));
      metrics.downloadRequests.inc({
        platform: failed.platform,
        user_tier: failed.user_id ? 'user' : 'anonymous',
        status: 'failed',
      });
    }
  }
}
