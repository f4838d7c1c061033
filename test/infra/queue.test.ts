import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  abortKindOf,
  openQueue,
  type Job,
  type JobAbortKind,
  type JobQueue,
  type OpenQueueOptions,
} from '../../src/infra/queue/index.js';
import { redisNamespace, type TempRedis } from '../support/backends.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LOCK_MS = 2000;
const STALLED_MS = 1000;

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((r) => signal.addEventListener('abort', () => r()));
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

interface Run {
  taskId: string;
  attempt: number;
  start: number;
  end?: number;
  abort?: JobAbortKind;
}

/** Records runs and the peak of simultaneous runs (overall and per group). */
class Recorder {
  readonly runs: Run[] = [];
  private active = 0;
  maxActive = 0;
  private readonly groupActive = new Map<string, number>();
  readonly groupMax = new Map<string, number>();

  /** Wraps a body; groupOf gives the group of a task (the test's own naming convention). */
  handler(body: (job: Job, run: Run) => Promise<void>, groupOf: (taskId: string) => string = () => '') {
    return async (job: Job) => {
      const run: Run = { taskId: job.taskId, attempt: job.attempt, start: Date.now() };
      this.runs.push(run);
      const g = groupOf(job.taskId);
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      const ga = (this.groupActive.get(g) ?? 0) + 1;
      this.groupActive.set(g, ga);
      this.groupMax.set(g, Math.max(this.groupMax.get(g) ?? 0, ga));
      try {
        await body(job, run);
      } finally {
        run.abort = abortKindOf(job.signal);
        run.end = Date.now();
        this.active--;
        this.groupActive.set(g, (this.groupActive.get(g) ?? 1) - 1);
      }
    };
  }

  of(taskId: string): Run[] {
    return this.runs.filter((r) => r.taskId === taskId);
  }

  finished(): number {
    return this.runs.filter((r) => r.end !== undefined).length;
  }
}

const opened: JobQueue[] = [];
const namespaces: TempRedis[] = [];
const children: ChildProcess[] = [];

function namespace(): TempRedis {
  const ns = redisNamespace();
  namespaces.push(ns);
  return ns;
}

function open(kind: 'memory' | 'bullmq', ns?: TempRedis, extra: OpenQueueOptions = {}): JobQueue {
  const space = kind === 'bullmq' ? (ns ?? namespace()) : undefined;
  const q = openQueue(space?.url, {
    prefix: space?.prefix,
    lockDurationMs: LOCK_MS,
    stalledIntervalMs: STALLED_MS,
    closeGraceMs: 2000,
    ...extra,
  });
  opened.push(q);
  return q;
}

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(opened.splice(0).map((q) => q.close()));
  await Promise.all(namespaces.splice(0).map((ns) => ns.clean()));
});

describe.each(['memory', 'bullmq'] as const)('%s queue', (kind) => {
  it('runs an enqueued task once with attempt 1', async () => {
    const q = open(kind);
    expect(q.kind).toBe(kind);
    const rec = new Recorder();
    await q.consume(
      rec.handler(async (job) => {
        expect(job.signal.aborted).toBe(false);
        await job.heartbeat();
      }),
      { concurrency: 2 },
    );
    await q.enqueue('t1');
    await until(() => rec.finished() === 1, 'the run');
    expect(rec.runs).toMatchObject([{ taskId: 't1', attempt: 1 }]);
    await until(async () => (await q.counts()).active === 0, 'an idle queue');
    expect(await q.counts()).toEqual({ waiting: 0, active: 0, delayed: 0 });
  });

  it('is idempotent: three enqueues of a waiting task make one run', async () => {
    const q = open(kind);
    const rec = new Recorder();
    await q.enqueue('t1');
    await Promise.all([q.enqueue('t1'), q.enqueue('t1', { delayMs: 50 })]);
    expect(await q.counts()).toEqual({ waiting: 1, active: 0, delayed: 0 });
    await q.consume(
      rec.handler(async () => {}),
      { concurrency: 3 },
    );
    await until(() => rec.finished() === 1, 'the run');
    await sleep(300);
    expect(rec.runs.length).toBe(1);
  });

  it('runs at most `concurrency` jobs at once', async () => {
    const q = open(kind);
    const rec = new Recorder();
    for (let i = 0; i < 8; i++) await q.enqueue(`c${i}`);
    await q.consume(
      rec.handler(() => sleep(150)),
      { concurrency: 3 },
    );
    await until(() => rec.finished() === 8, 'eight runs');
    expect(rec.maxActive).toBe(3);
    expect(new Set(rec.runs.map((r) => r.taskId)).size).toBe(8);
  });

  it('caps jobs per group', async () => {
    const q = open(kind);
    const rec = new Recorder();
    const ids = ['a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'b4', 'c1', 'c2'];
    for (const id of ids) await q.enqueue(id, { group: id[0] });
    await q.consume(
      rec.handler(
        () => sleep(150),
        (id) => id[0]!,
      ),
      { concurrency: 4, groupLimits: { a: 1, b: 2 } },
    );
    await until(() => rec.finished() === ids.length, 'all runs', 15_000);
    expect(rec.groupMax.get('a')).toBe(1);
    expect(rec.groupMax.get('b')).toBe(2);
    expect(rec.maxActive).toBeLessThanOrEqual(4);
    expect(rec.runs.map((r) => r.taskId).sort()).toEqual([...ids].sort());
  });

  it('honours delayMs', async () => {
    const q = open(kind);
    const rec = new Recorder();
    await q.consume(
      rec.handler(async () => {}),
      { concurrency: 1 },
    );
    const t0 = Date.now();
    await q.enqueue('late', { delayMs: 700 });
    await q.enqueue('now');
    expect((await q.counts()).delayed).toBe(1);
    await until(() => rec.finished() === 2, 'both runs');
    expect(rec.runs.map((r) => r.taskId)).toEqual(['now', 'late']);
    expect(rec.of('late')[0]!.start - t0).toBeGreaterThanOrEqual(680);
  });

  it('cancels waiting and delayed jobs: they never run', async () => {
    const q = open(kind);
    const rec = new Recorder();
    await q.enqueue('w');
    await q.enqueue('d', { delayMs: 300 });
    await q.cancel('w');
    await q.cancel('d');
    await q.cancel('unknown'); // no-op
    expect(await q.counts()).toEqual({ waiting: 0, active: 0, delayed: 0 });
    await q.consume(
      rec.handler(async () => {}),
      { concurrency: 2 },
    );
    await q.enqueue('z');
    await sleep(600);
    expect(rec.runs.map((r) => r.taskId)).toEqual(['z']);
  });

  it('cancels a running job: its signal aborts with kind cancelled, no re-run', async () => {
    const q = open(kind);
    const rec = new Recorder();
    await q.consume(
      rec.handler(async (job) => {
        await aborted(job.signal);
        throw job.signal.reason;
      }),
      { concurrency: 1 },
    );
    await q.enqueue('r');
    await until(() => rec.runs.length === 1, 'the start');
    await q.cancel('r');
    await until(() => rec.finished() === 1, 'the abort');
    expect(rec.runs[0]!.abort).toBe('cancelled');
    await until(async () => (await q.counts()).active === 0, 'an idle queue');
    await sleep(300);
    expect(rec.runs.length).toBe(1);
  });

  it('keeps going after a handler throws, and does not retry it by itself', async () => {
    const errors: unknown[] = [];
    const q = open(kind, undefined, { onError: (_err, taskId) => errors.push(taskId) });
    const rec = new Recorder();
    await q.consume(
      rec.handler(async (job) => {
        if (job.taskId === 'bad') throw new Error('boom');
      }),
      { concurrency: 1 },
    );
    await q.enqueue('bad');
    await q.enqueue('good');
    await until(() => rec.finished() === 2, 'both runs');
    await sleep(300);
    expect(rec.runs.map((r) => r.taskId)).toEqual(['bad', 'good']);
    expect(errors).toContain('bad');
  });

  it('runs a task again with attempt 2 when enqueued after it finished', async () => {
    const q = open(kind);
    const rec = new Recorder();
    await q.consume(
      rec.handler(async () => {}),
      { concurrency: 1 },
    );
    await q.enqueue('again');
    await until(() => rec.finished() === 1, 'the first run');
    await until(async () => (await q.counts()).active === 0, 'the job to finish');
    await q.enqueue('again');
    await until(() => rec.finished() === 2, 'the second run');
    expect(rec.runs.map((r) => r.attempt)).toEqual([1, 2]);
  });

  it('turns enqueues while active into exactly one later run, never a concurrent one', async () => {
    const q = open(kind);
    const rec = new Recorder();
    const first = gate();
    await q.consume(
      rec.handler(async (job) => {
        if (job.attempt === 1) await first.wait;
      }),
      { concurrency: 4 },
    );
    await q.enqueue('busy');
    await until(() => rec.runs.length === 1, 'the start');
    await q.enqueue('busy');
    await q.enqueue('busy');
    await q.enqueue('busy');
    await sleep(300);
    expect(rec.runs.length).toBe(1);
    expect((await q.counts()).active).toBe(1);
    first.open();
    await until(() => rec.finished() === 2, 'the follow-up run');
    await sleep(300);
    expect(rec.runs.map((r) => r.attempt)).toEqual([1, 2]);
    expect(rec.maxActive).toBe(1);
    expect(rec.runs[1]!.start).toBeGreaterThanOrEqual(rec.runs[0]!.end!);
  });

  it('runs a retry enqueued from inside the handler after its delay', async () => {
    const q = open(kind);
    const rec = new Recorder();
    await q.consume(
      rec.handler(async (job) => {
        if (job.attempt === 1) {
          await q.enqueue(job.taskId, { delayMs: 400 });
          throw new Error('transient');
        }
      }),
      { concurrency: 1 },
    );
    await q.enqueue('retry');
    await until(() => rec.finished() === 2, 'the retry');
    expect(rec.runs.map((r) => r.attempt)).toEqual([1, 2]);
    expect(rec.runs[1]!.start - rec.runs[0]!.end!).toBeGreaterThanOrEqual(350);
  });

  it('counts waiting, active and delayed jobs', async () => {
    const q = open(kind);
    const rec = new Recorder();
    const release = gate();
    await q.enqueue('a');
    await q.enqueue('b', { delayMs: 10_000 });
    expect(await q.counts()).toEqual({ waiting: 1, active: 0, delayed: 1 });
    await q.consume(
      rec.handler(() => release.wait),
      { concurrency: 1 },
    );
    await until(() => rec.runs.length === 1, 'the start');
    expect(await q.counts()).toEqual({ waiting: 0, active: 1, delayed: 1 });
    await q.cancel('b');
    release.open();
    await until(async () => (await q.counts()).active === 0, 'an idle queue');
    expect(await q.counts()).toEqual({ waiting: 0, active: 0, delayed: 0 });
  });

  it('close() aborts running jobs with kind shutdown and stops taking jobs', async () => {
    const q = open(kind);
    const rec = new Recorder();
    await q.consume(
      rec.handler(async (job) => {
        await aborted(job.signal);
        throw job.signal.reason;
      }),
      { concurrency: 2 },
    );
    await q.enqueue('x');
    await q.enqueue('y');
    await until(() => rec.runs.length === 2, 'both starts');
    await q.close();
    expect(rec.runs.map((r) => r.abort)).toEqual(['shutdown', 'shutdown']);
    await expect(q.enqueue('z')).rejects.toThrow(/closed/);
  });
});

describe('bullmq queue across processes', () => {
  it('splits the work between two consumers, each task run once', async () => {
    const ns = namespace();
    const q1 = open('bullmq', ns);
    const q2 = open('bullmq', ns);
    const byInstance = [0, 0];
    const rec = new Recorder();
    const body = (i: number) => async () => {
      byInstance[i]!++;
      await sleep(60);
    };
    await q1.consume(rec.handler(body(0)), { concurrency: 2 });
    await q2.consume(rec.handler(body(1)), { concurrency: 2 });
    for (let i = 0; i < 20; i++) await q1.enqueue(`s${i}`);
    await until(() => rec.finished() === 20, 'twenty runs');
    await sleep(300);
    expect(rec.runs.length).toBe(20);
    expect(new Set(rec.runs.map((r) => r.taskId)).size).toBe(20);
    expect(byInstance[0]).toBeGreaterThan(0);
    expect(byInstance[1]).toBeGreaterThan(0);
  });

  it('delivers a cancel to the process that runs the job', async () => {
    const ns = namespace();
    const api = open('bullmq', ns);
    const worker = open('bullmq', ns);
    const rec = new Recorder();
    await worker.consume(
      rec.handler(async (job) => {
        await aborted(job.signal);
        throw job.signal.reason;
      }),
      { concurrency: 1 },
    );
    await api.enqueue('remote');
    await until(() => rec.runs.length === 1, 'the start');
    await api.cancel('remote');
    await until(() => rec.finished() === 1, 'the abort');
    expect(rec.runs[0]!.abort).toBe('cancelled');
    await until(async () => (await api.counts()).active === 0, 'the job to end');
    await sleep(300);
    expect(rec.runs.length).toBe(1);
  });

  it('puts a job interrupted by close() back at once: another consumer runs it with attempt 2', async () => {
    const ns = namespace();
    const slow = { lockDurationMs: 20_000, stalledIntervalMs: 20_000 }; // recovery must not come from a stall
    const first = open('bullmq', ns, slow);
    const rec = new Recorder();
    await first.consume(
      rec.handler(async (job) => {
        if (job.attempt === 1) {
          await aborted(job.signal);
          throw job.signal.reason;
        }
      }),
      { concurrency: 1 },
    );
    await first.enqueue('moved');
    await until(() => rec.runs.length === 1, 'the start');
    await first.close();
    expect(rec.runs[0]!.abort).toBe('shutdown');
    const second = open('bullmq', ns, slow);
    expect(await second.counts()).toEqual({ waiting: 1, active: 0, delayed: 0 });
    await second.consume(
      rec.handler(async () => {}),
      { concurrency: 1 },
    );
    await until(() => rec.finished() === 2, 'the second run', 3000);
    expect(rec.runs.map((r) => r.attempt)).toEqual([1, 2]);
  });

  it('recovers the jobs of a killed worker process after the lock expires; a cancelled one stays cancelled', async () => {
    const ns = namespace();
    const api = open('bullmq', ns);
    await api.enqueue('crash-a');
    await api.enqueue('crash-b');

    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/queue-worker.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        QUEUE_REDIS_URL: ns.url,
        QUEUE_PREFIX: ns.prefix,
        QUEUE_LOCK_MS: String(LOCK_MS),
        QUEUE_STALLED_MS: String(STALLED_MS),
        QUEUE_CONCURRENCY: '2',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until(
      () => out.includes('started crash-a 1') && out.includes('started crash-b 1'),
      'the child to start',
      15_000,
    );

    await api.cancel('crash-b'); // the child's handler ignores its signal: the job is still held when it dies
    await sleep(100);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;

    const t0 = Date.now();
    const rec = new Recorder();
    const survivor = open('bullmq', ns);
    await survivor.consume(
      rec.handler(async () => {}),
      { concurrency: 2 },
    );
    await until(() => rec.finished() === 1, 'the recovered run', 15_000);
    expect(rec.runs[0]).toMatchObject({ taskId: 'crash-a', attempt: 2 });
    expect(Date.now() - t0).toBeGreaterThan(LOCK_MS / 2); // it waited for the dead worker's lock
    await until(
      async () => JSON.stringify(await api.counts()) === JSON.stringify({ waiting: 0, active: 0, delayed: 0 }),
      'the cancelled job to be dropped',
      15_000,
    );
    expect(rec.of('crash-b')).toEqual([]);
  });
});
