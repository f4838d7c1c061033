/**
 * A bounded closed-loop load generator: C workers, each sending its next
 * request as soon as the previous answer is read, until the duration (or the
 * request cap) is reached. Loopback only.
 *
 * runLoadIsolated runs the same loop in a worker thread, so the client does
 * not share an event loop with a server running in this process.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Pool } from 'undici';
import { summarize, type Stats } from './stats.js';

export interface LoadOptions {
  /** full URL; its host must be 127.0.0.1 */
  url: string;
  connections: number;
  durationMs: number;
  /** hard cap on requests, whatever the duration (default 2,000,000) */
  maxRequests?: number;
  /** untimed warm-up before measuring, same concurrency (default 0) */
  warmupMs?: number;
  /** a response header every answer must carry (e.g. ['x-cache', 'hit']); others count as errors */
  expectHeader?: readonly [string, string];
}

export interface LoadResult {
  url: string;
  connections: number;
  durationS: number;
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  bytes: number;
  rps: number;
  latency: Stats;
}

const MAX_DURATION_MS = 60_000;
const MAX_CONNECTIONS = 256;

function checkOptions(o: LoadOptions): URL {
  const u = new URL(o.url);
  if (u.protocol !== 'http:' || u.hostname !== '127.0.0.1')
    throw new Error(`load: only http://127.0.0.1 is allowed, got ${o.url}`);
  if (!(o.connections >= 1 && o.connections <= MAX_CONNECTIONS)) throw new Error('load: connections out of range');
  if (!(o.durationMs > 0 && o.durationMs + (o.warmupMs ?? 0) <= MAX_DURATION_MS))
    throw new Error('load: duration out of range');
  return u;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const u = checkOptions(o);
  const path = u.pathname + u.search;
  const cap = Math.min(o.maxRequests ?? 2_000_000, 2_000_000);
  const pool = new Pool(u.origin, { connections: o.connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const [hName, hValue] = o.expectHeader ?? [];
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let bytes = 0;
  let sent = 0;

  async function one(record: boolean): Promise<void> {
    const t0 = performance.now();
    let ok = false;
    let status = 'error';
    try {
      const res = await pool.request({ path, method: 'GET' });
      const body = await res.body.arrayBuffer();
      status = String(res.statusCode);
      ok = res.statusCode >= 200 && res.statusCode < 300 && (!hName || res.headers[hName] === hValue);
      if (record) bytes += body.byteLength;
    } catch {
      ok = false;
    }
    if (!record) return;
    latencies.push(performance.now() - t0);
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (!ok) errors++;
  }

  async function phase(ms: number, record: boolean): Promise<number> {
    const start = performance.now();
    const end = start + ms;
    const worker = async () => {
      while (performance.now() < end && sent < cap) {
        sent++;
        await one(record);
      }
    };
    await Promise.all(Array.from({ length: o.connections }, worker));
    return performance.now() - start;
  }

  try {
    if (o.warmupMs) await phase(o.warmupMs, false);
    sent = 0;
    const elapsed = await phase(o.durationMs, true);
    const durationS = elapsed / 1000;
    return {
      url: o.url,
      connections: o.connections,
      durationS,
      requests: latencies.length,
      errors,
      statuses,
      bytes,
      rps: (latencies.length - errors) / durationS,
      latency: summarize(latencies),
    };
  } finally {
    await pool.close();
  }
}

interface WorkerJob {
  benchLoad: LoadOptions;
}

/** Runs runLoad in a worker thread (TypeScript loaded through tsx) and returns its result. */
export function runLoadIsolated(o: LoadOptions): Promise<LoadResult> {
  checkOptions(o);
  const tsx = import.meta.resolve('tsx/esm/api');
  const self = import.meta.url;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(self)}); })`;
  const job: WorkerJob = { benchLoad: o };
  const worker = new Worker(boot, { eval: true, workerData: job });
  const limitMs = o.durationMs + (o.warmupMs ?? 0) + 30_000;
  return new Promise<LoadResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`load worker did not finish within ${limitMs} ms`));
    }, limitMs);
    const done = (fn: () => void) => {
      clearTimeout(timer);
      fn();
    };
    worker.once('message', (m: LoadResult) => done(() => resolve(m)));
    worker.once('error', (err) => done(() => reject(err)));
    worker.once('exit', (code) => done(() => reject(new Error(`load worker exited with ${code} before answering`))));
  });
}

if (!isMainThread && parentPort && (workerData as Partial<WorkerJob> | null)?.benchLoad) {
  const port = parentPort;
  void runLoad((workerData as WorkerJob).benchLoad).then(
    (r) => port.postMessage(r),
    (err: unknown) => {
      throw err;
    },
  );
}
