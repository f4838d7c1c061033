/**
 * A worker process for the queue crash tests: consumes the BullMQ queue named
 * by the environment, reports each start on stdout ("started <taskId> <attempt>")
 * and hangs in every job, ignoring its signal, until it is killed.
 */
import { openQueue } from '../../src/infra/queue/index.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

const queue = openQueue(env('QUEUE_REDIS_URL'), {
  prefix: env('QUEUE_PREFIX'),
  lockDurationMs: Number(env('QUEUE_LOCK_MS')),
  stalledIntervalMs: Number(env('QUEUE_STALLED_MS')),
});
await queue.consume(
  async (job) => {
    process.stdout.write(`started ${job.taskId} ${job.attempt}\n`);
    await new Promise(() => {});
  },
  { concurrency: Number(process.env.QUEUE_CONCURRENCY ?? '1') },
);
process.stdout.write('ready\n');
