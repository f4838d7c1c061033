/**
 * A bounded closed-loop load generator: C workers, each sending its next
 * request as soon as the previous answer is read, until the time slice (or
 * the request cap) is used up. Loopback only.
 *
 * Several targets are measured in alternating slices (A B B A A B ...), so
 * background noise on a shared machine hits them alike and their ratio
 * stays meaningful. runLoadIsolated runs the loop in a worker thread, so the
 * client does not share an event loop with servers running in this process.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Pool } from 'undici';
import { summarize, type Stats } from './stats.js';

export interface LoadTarget {
  /** full URL; its host must be 127.0.0.1 */
  url: string;
  /** a response header every answer must carry (e.g. ['x-cache', 'hit']); others count as errors */
  expectHeader?: readonly [string, string];
}

export interface LoadOptions {
  targets: LoadTarget[];
  connections: number;
  /** measured time per target, split over `rounds` slices */
  durationMs: number;
  /** slices per target (default 1) */
  rounds?: number;
  /** untimed warm-up per target before measuring (default 0) */
  warmupMs?: number;
  /** hard cap on requests per target and slice (default 1,000,000) */
  maxRequests?: number;
}

export interface LoadResult {
  url: string;
  connections: number;
  durationS: number;
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  bytes: number;
  /** successful requests per second */
  rps: number;
  latency: Stats;
}

const MAX_TOTAL_MS = 90_000;
const MAX_CONNECTIONS = 256;

function checkOptions(o: LoadOptions): URL[] {
  const urls = o.targets.map((t) => new URL(t.url));
  for (const u of urls) {
    if (u.protocol !== 'http:' || u.hostname !== '127.0.0.1')
      throw new Error(`load: only http://127.0.0.1 is allowed, got ${u.href}`);
  }
  if (!urls.length) throw new Error('load: no targets');
  if (!(o.connections >= 1 && o.connections <= MAX_CONNECTIONS)) throw new Error('load: connections out of range');
  const total = urls.length * (o.durationMs + (o.warmupMs ?? 0));
  if (!(o.durationMs > 0 && total <= MAX_TOTAL_MS)) throw new Error(`load: total time out of range (${total} ms)`);
  return urls;
}

class TargetRun {
  readonly pool: Pool;
  readonly path: string;
  readonly latencies: number[] = [];
  readonly statuses: Record<string, number> = {};
  errors = 0;
  bytes = 0;
  elapsedMs = 0;

  constructor(
    readonly target: LoadTarget,
    url: URL,
    connections: number,
  ) {
    this.path = url.pathname + url.search;
    this.pool = new Pool(url.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  }

  private async one(record: boolean): Promise<void> {
    const [hName, hValue] = this.target.expectHeader ?? [];
    const t0 = performance.now();
    let ok = false;
    let status = 'error';
    let size = 0;
    try {
      const res = await this.pool.request({ path: this.path, method: 'GET' });
      size = (await res.body.arrayBuffer()).byteLength;
      status = String(res.statusCode);
      ok = res.statusCode >= 200 && res.statusCode < 300 && (!hName || res.headers[hName] === hValue);
    } catch {
      ok = false;
    }
    if (!record) return;
    this.latencies.push(performance.now() - t0);
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    this.bytes += size;
    if (!ok) this.errors++;
  }

  /** One closed-loop slice: `connections` workers until `ms` have passed or `cap` requests were sent. */
  async slice(ms: number, connections: number, cap: number, record: boolean): Promise<void> {
    const start = performance.now();
    const end = start + ms;
    let sent = 0;
    const worker = async () => {
      while (performance.now() < end && sent < cap) {
        sent++;
        await this.one(record);
      }
    };
    await Promise.all(Array.from({ length: connections }, worker));
    if (record) this.elapsedMs += performance.now() - start;
  }

  result(connections: number): LoadResult {
    const ok = this.latencies.length - this.errors;
    return {
      url: this.target.url,
      connections,
      durationS: this.elapsedMs / 1000,
      requests: this.latencies.length,
      errors: this.errors,
      statuses: this.statuses,
      bytes: this.bytes,
      rps: ok / (this.elapsedMs / 1000),
      latency: summarize(this.latencies),
    };
  }
}

export async function runLoad(o: LoadOptions): Promise<LoadResult[]> {
  const urls = checkOptions(o);
  const rounds = Math.max(1, Math.floor(o.rounds ?? 1));
  const cap = Math.min(o.maxRequests ?? 1_000_000, 1_000_000);
  const runs = o.targets.map((t, i) => new TargetRun(t, urls[i]!, o.connections));
  try {
    if (o.warmupMs) for (const r of runs) await r.slice(o.warmupMs, o.connections, cap, false);
    for (let round = 0; round < rounds; round++) {
      // Alternate the order every round so neither target always goes first.
      const order = round % 2 === 0 ? runs : [...runs].reverse();
      for (const r of order) await r.slice(o.durationMs / rounds, o.connections, cap, true);
    }
    return runs.map((r) => r.result(o.connections));
  } finally {
    await Promise.all(runs.map((r) => r.pool.close()));
  }
}

interface WorkerJob {
  benchLoad: LoadOptions;
}

/** Runs runLoad in a worker thread (TypeScript loaded through tsx) and returns its results. */
export function runLoadIsolated(o: LoadOptions): Promise<LoadResult[]> {
  checkOptions(o);
  const tsx = import.meta.resolve('tsx/esm/api');
  const self = import.meta.url;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(self)}); })`;
  const job: WorkerJob = { benchLoad: o };
  const worker = new Worker(boot, { eval: true, workerData: job });
  const limitMs = o.targets.length * (o.durationMs + (o.warmupMs ?? 0)) + 30_000;
  return new Promise<LoadResult[]>((resolve, reject) => {
    const settle = (fn: () => void) => {
      clearTimeout(timer);
      fn();
      void worker.terminate();
    };
    const timer = setTimeout(
      () => settle(() => reject(new Error(`load worker did not finish within ${limitMs} ms`))),
      limitMs,
    );
    worker.once('message', (m: LoadResult[]) => settle(() => resolve(m)));
    worker.once('error', (err) => settle(() => reject(err)));
    worker.once('exit', (code) => settle(() => reject(new Error(`load worker exited with ${code} before answering`))));
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
