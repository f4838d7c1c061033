import { BullmqQueue, type BullmqQueueOptions } from './bullmq-queue.js';
import { MemoryQueue } from './memory-queue.js';
import type { JobQueue } from './queue.js';

export type { ConsumeOptions, EnqueueOptions, Job, JobHandler, JobQueue, QueueKind } from './queue.js';
export { abortKindOf, JobAbortedError, MemoryQueue, type JobAbortKind } from './memory-queue.js';
export { BullmqQueue, QUEUE_NAME } from './bullmq-queue.js';

/** prefix, lock and stall settings only matter for BullMQ; closeGraceMs and onError for both. */
export type OpenQueueOptions = BullmqQueueOptions;

/** REDIS_URL set → BullMQ on Redis (queue `downloads`); otherwise the in-process queue. */
export function openQueue(redisUrl: string | undefined, opts: OpenQueueOptions = {}): JobQueue {
  return redisUrl ? new BullmqQueue(redisUrl, opts) : new MemoryQueue(opts);
}
