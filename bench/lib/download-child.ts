/**
 * The download benchmark's child process:
 *
 *   node download-child.mjs [--warm] URL OUTDIR [COUNT] [CONNECTIONS|-] [SOLO_MIN_BPS]
 *
 * bench/download.ts bundles this file with esbuild so it runs on plain Node,
 * like the built service (`node --import tsx download-child.ts ...` works too).
 * It starts COUNT downloadHttp calls of URL at once into OUTDIR/out-N.bin, with
 * one shared HttpClient as the worker has, and default options (solo start,
 * 4 × 8 MiB chunks) unless CONNECTIONS or SOLO_MIN_BPS (a number or Infinity)
 * is given, then prints one JSON line (ChildReport)
 * on stdout. Memory is this process's own: VmRSS sampled every 50 ms while the
 * downloads run, and VmHWM at the end.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { downloadHttp } from '../../src/delivery/downloader/http-download.js';
import { HttpClient } from '../../src/infra/http-client/http-client.js';

export interface ChildReport {
  count: number;
  /** wall time of the COUNT downloadHttp calls (all of them) */
  ms: number;
  /** per download, in argv order */
  files: { path: string; size: number; chunks: number; ms: number }[];
  /** KiB */
  rss: {
    /** VmRSS just before the downloads started (Node + tsx + the modules loaded) */
    before: number;
    /** the highest VmRSS sample taken every 50 ms while the downloads ran */
    sampledPeak: number;
    samples: number;
    /** VmHWM at the end: the process's peak over its whole life, start-up included */
    hwm: number;
    /** peaks of process.memoryUsage() over the same samples: V8 heap in use, and Buffer/ArrayBuffer memory (live or not yet collected) */
    heapUsedPeak: number;
    arrayBuffersPeak: number;
  };
}

const SAMPLE_INTERVAL_MS = 50;

/** A field of /proc/self/status in KiB (Linux only). */
function procStatus(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/self/status`);
  return Number(m[1]);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // --warm: one untimed download first, so the timed one runs on warmed-up code, as in a long-running worker.
  const warm = argv[0] === '--warm';
  const [url, outDir, countArg, connectionsArg, soloArg] = warm ? argv.slice(1) : argv;
  const count = Number(countArg ?? '1');
  const connections = connectionsArg === undefined || connectionsArg === '-' ? undefined : Number(connectionsArg);
  const soloMinBps = soloArg === undefined ? undefined : Number(soloArg);
  if (!url || !outDir || !(Number.isInteger(count) && count >= 1 && count <= 100))
    throw new Error('usage: download-child.ts [--warm] URL OUTDIR [COUNT] [CONNECTIONS|-] [SOLO_MIN_BPS]');
  if (connections !== undefined && !(Number.isInteger(connections) && connections >= 1))
    throw new Error('CONNECTIONS must be a positive integer');
  if (soloMinBps !== undefined && !(soloMinBps > 0)) throw new Error('SOLO_MIN_BPS must be a positive number');
  if (new URL(url).hostname !== '127.0.0.1') throw new Error('loopback only');

  const client = new HttpClient({ allowPrivateAddresses: true });
  const options = {
    client,
    ...(connections === undefined ? {} : { connections }),
    ...(soloMinBps === undefined ? {} : { soloMinBps }),
  };
  if (warm) {
    const { path: warmed } = await downloadHttp(url, path.join(outDir, 'warm-up.bin'), options);
    await rm(warmed);
  }
  const before = procStatus('VmRSS');
  let sampledPeak = before;
  let samples = 0;
  let heapUsedPeak = 0;
  let arrayBuffersPeak = 0;
  const take = (): void => {
    sampledPeak = Math.max(sampledPeak, procStatus('VmRSS'));
    const m = process.memoryUsage();
    heapUsedPeak = Math.max(heapUsedPeak, Math.round(m.heapUsed / 1024));
    arrayBuffersPeak = Math.max(arrayBuffersPeak, Math.round(m.arrayBuffers / 1024));
    samples++;
  };
  const timer = setInterval(take, SAMPLE_INTERVAL_MS);
  const t0 = performance.now();
  try {
    const files = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const start = performance.now();
        const r = await downloadHttp(url, path.join(outDir, `out-${i}.bin`), options);
        return { path: r.path, size: r.size, chunks: r.chunks, ms: performance.now() - start };
      }),
    );
    const ms = performance.now() - t0;
    clearInterval(timer);
    take();
    const report: ChildReport = {
      count,
      ms,
      files,
      rss: { before, sampledPeak, samples, hwm: procStatus('VmHWM'), heapUsedPeak, arrayBuffersPeak },
    };
    process.stdout.write(JSON.stringify(report) + '\n');
  } finally {
    clearInterval(timer);
    await client.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
