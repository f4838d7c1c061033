/**
 * Download benchmark, everything on loopback, one random 200 MiB file served by
 * a streaming Range-capable server (bench/lib/file-server.ts):
 *  1. throughput of our downloader (downloadHttp, default options) vs
 *     yt-dlp (generic extractor, direct URL) vs curl, runs interleaved so
 *     background noise hits all alike; every output's size is checked and the
 *     first run of each is hashed; for context also ours on one connection,
 *     parallel from the start, and timed in a warmed-up process;
 *  2. peak RSS of our downloader in a child process (the same runs);
 *  3. 20 concurrent downloads of the file in one child process: aggregate
 *     throughput and peak RSS.
 * Our downloader always runs in a child process (bench/lib/download-child.ts,
 * bundled with esbuild and run on plain Node like the built service), so it
 * does not share an event loop with the file server, as yt-dlp and curl don't.
 *
 * BENCH_BASELINE=REV (e.g. HEAD) adds the downloader as of that git revision
 * (src/delivery/downloader/ and src/infra/http-client/ read with `git show`,
 * everything else current) to
 * every part, interleaved with the rest: before/after figures from one run.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat, statfs, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sha256File } from '../src/delivery/downloader/http-download.js';
import type { BenchReport } from './extraction.js';
import type { ChildReport } from './lib/download-child.js';
import { startFileServer, type FileServer } from './lib/file-server.js';
import { fmtMs, fmtRatio, mdTable, round, summarize, textTable, type Stats } from './lib/stats.js';
import { baseMachineFacts, toolVersion, type BaseMachine } from './lib/machine.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHILD_SRC = path.join(ROOT, 'bench/lib/download-child.ts');

const MiB = 1024 * 1024;

const CFG = {
  fileMiB: 200,
  blockMiB: 8,
  /** runs per tool, interleaved */
  runs: 5,
  /** yt-dlp's fixed cost (start-up, generic extraction) is measured on a file this small */
  tinyBytes: 1024,
  concurrent: 20,
  /** used for the concurrent part when the disk cannot hold `concurrent` copies of the big file */
  concurrentFallbackMiB: 50,
  /** kept free on the disk besides the outputs */
  diskReserveMiB: 2048,
  singleTimeoutMs: 60_000,
  concurrentTimeoutMs: 150_000,
  /** no new throughput round starts after this much time */
  throughputBudgetMs: 180_000,
  /** the aims the lead set */
  aims: { oursOverYtdlp: 1.0, oursOverCurl: 0.8, concurrentRssMB: 150 },
};

type Tool = 'ours' | 'baseline' | 'ours-1conn' | 'ours-parallel' | 'ours-warm' | 'yt-dlp' | 'curl';

/** BENCH_BASELINE: a git revision whose downloader runs alongside the current one (as its short commit id). */
const BASELINE = ((rev: string | undefined) => {
  if (!rev) return undefined;
  if (!/^[\w./~^-]{1,100}$/.test(rev)) throw new Error('BENCH_BASELINE: not a git revision');
  return execFileSync('git', ['rev-parse', '--short', '--verify', `${rev}^{commit}`], {
    cwd: ROOT,
    encoding: 'utf8',
  }).trim();
})(process.env.BENCH_BASELINE);

const ALL_TOOLS: { tool: Tool; label: string; detail: string }[] = [
  {
    tool: 'ours',
    label: 'ours (downloadHttp)',
    detail: 'default: one response while each 8 MiB chunk comes at ≥ 64 MiB/s, else 4 connections',
  },
  { tool: 'yt-dlp', label: 'yt-dlp', detail: 'generic extractor, --no-part, one stream' },
  { tool: 'curl', label: 'curl', detail: 'curl -s -o, one stream' },
  { tool: 'ours-1conn', label: 'ours, 1 connection', detail: 'connections: 1 (no chunking), for context' },
  {
    tool: 'ours-parallel',
    label: 'ours, parallel at once',
    detail: 'soloMinBps: Infinity (4 connections × 8 MiB chunks from the start), for context',
  },
  {
    tool: 'ours-warm',
    label: 'ours, warm process',
    detail:
      'default options, timed after one untimed download in the same process (a long-running worker), for context',
  },
  {
    tool: 'baseline',
    label: `ours @ ${BASELINE ?? '-'}`,
    detail: `the downloader as of ${BASELINE ?? '-'} (default options), for before/after`,
  },
];
const TOOLS = ALL_TOOLS.filter((t) => t.tool !== 'baseline' || BASELINE !== undefined);

interface Machine extends BaseMachine {
  curl: string;
  /** filesystem of the temp dir the files are written to */
  tmpFs: string;
}

interface RunRecord {
  tool: Tool;
  round: number;
  /** spawn to exit */
  wallMs: number;
  /** ours: the downloadHttp call inside the child; others: wallMs */
  transferMs: number;
  /** fdatasync of the output after the tool exited (none of them syncs its output itself) */
  flushMs: number;
  size: number;
  sha256?: string;
  child?: ChildReport;
}

interface ToolRow {
  tool: Tool;
  label: string;
  detail: string;
  n: number;
  /** MiB/s per run, as used for the headline (ours: in-process call; others: per invocation) */
  mibps: Stats;
  wallMs: Stats;
  transferMs: Stats;
  flushMs: Stats;
  sha256Ok: boolean;
}

interface MemoryRow {
  case: string;
  n: number;
  /** MiB, median over the runs (max for the concurrent case, which runs once) */
  beforeMiB: number;
  sampledPeakMiB: number;
  hwmMiB: number;
  heapUsedPeakMiB: number;
  arrayBuffersPeakMiB: number;
}

interface ConcurrentResult {
  downloads: number;
  fileMiB: number;
  /** true when the disk had too little room for the big file × downloads */
  reducedFile: boolean;
  totalMiB: number;
  wallMs: number;
  aggregateMiBps: number;
  perDownloadMs: Stats;
  sha256Ok: boolean;
  memory: MemoryRow;
  serverStatuses: Record<string, number>;
}

export interface DownloadResults {
  benchmark: 'download';
  date: string;
  machine: Machine;
  config: typeof CFG;
  file: { bytes: number; sha256: string };
  /** how our downloader's child ran */
  childRuntime: string;
  ytdlpCommand: string;
  curlCommand: string;
  /** yt-dlp on a CFG.tinyBytes file: its fixed cost per invocation */
  ytdlpFixedMs: Stats;
  runs: RunRecord[];
  tools: ToolRow[];
  ratios: {
    oursOverYtdlp: number;
    /** yt-dlp's speed with its fixed cost (ytdlpFixedMs p50) taken off */
    oursOverYtdlpTransferOnly: number;
    oursOverCurl: number;
    /** both charged with flushing their output to disk */
    oursOverCurlWithFlush: number;
    /** ours timed in a warmed-up process (a long-running worker's case), for context: the aim is judged on oursOverCurl */
    oursWarmOverCurl: number;
  };
  memory: MemoryRow[];
  concurrent: ConcurrentResult;
  /** BENCH_BASELINE runs only */
  baseline?: { rev: string; oursOverBaseline: number; concurrent: ConcurrentResult };
  aims: { oursOverYtdlp: boolean; oursOverCurl: boolean; concurrentRss: boolean };
}

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`benchmark sanity check failed: ${what}`);
}

async function machineFacts(dir: string): Promise<Machine> {
  return {
    ...(await baseMachineFacts()),
    curl: (await toolVersion('curl', ['--version'])).split(' ').slice(0, 2).join(' '),
    tmpFs: await toolVersion('stat', ['-f', '-c', '%T', dir]),
  };
}

/** Random bytes in `blockMiB` blocks; returns the sha256. */
function makeRandomFile(file: string, bytes: number, blockBytes: number): string {
  const hash = createHash('sha256');
  const block = Buffer.alloc(blockBytes);
  const fd = openSync(file, 'w');
  try {
    for (let done = 0; done < bytes;) {
      const n = Math.min(blockBytes, bytes - done);
      randomFillSync(block, 0, n);
      const view = block.subarray(0, n);
      hash.update(view);
      for (let off = 0; off < n;) off += writeSync(fd, view, off, n - off);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

interface ChildCommand {
  cmd: string;
  args: string[];
  runtime: string;
}

/**
 * Bundles the child with esbuild (tsx's own compiler) into `dir`, next to a
 * node_modules link so its packages resolve, to run it on plain Node like the
 * built service: `--import tsx` alone adds ~30 MiB of RSS (its loader thread).
 * Falls back to tsx when that fails.
 */
async function prepareChild(dir: string, progress: (msg: string) => void, rev?: string): Promise<ChildCommand> {
  try {
    const esbuild = await import('esbuild');
    const outfile = path.join(dir, rev ? 'download-child-baseline.mjs' : 'download-child.mjs');
    await esbuild.build({
      plugins: rev ? [downloaderAt(rev)] : [],
      entryPoints: [CHILD_SRC],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outfile,
      logLevel: 'error',
    });
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir').catch((err: unknown) => {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    });
    return { cmd: process.execPath, args: [outfile], runtime: 'plain Node (child bundled with esbuild)' };
  } catch (err) {
    if (rev) throw err; // a baseline has no tsx fallback: it only exists as a bundle
    progress(`esbuild bundle failed (${String(err)}); running the child under tsx (~30 MiB more RSS)`);
    return { cmd: process.execPath, args: ['--import', 'tsx', CHILD_SRC], runtime: 'node --import tsx' };
  }
}

/** The code a baseline takes from its revision: the downloader and the HTTP client it downloads through. */
const BASELINE_DIRS = [path.join(ROOT, 'src/delivery/downloader'), path.join(ROOT, 'src/infra/http-client')];

/** An esbuild plugin that reads BASELINE_DIRS' *.ts as of git revision `rev` (files it lacks stay current). */
function downloaderAt(rev: string): import('esbuild').Plugin {
  const git = promisify(execFile);
  return {
    name: 'downloader-at-revision',
    setup(build) {
      build.onLoad({ filter: /\/src\/(delivery\/downloader|infra\/http-client)\/[^/]+\.ts$/ }, async (args) => {
        const dir = path.dirname(args.path);
        if (!BASELINE_DIRS.includes(dir)) return undefined;
        const rel = path.relative(ROOT, args.path).split(path.sep).join('/');
        const old = await git('git', ['show', `${rev}:${rel}`], { cwd: ROOT, maxBuffer: 8 * MiB }).catch(() => null);
        return old ? { contents: old.stdout, loader: 'ts', resolveDir: dir } : undefined;
      });
    },
  };
}

/** Runs a command, returns its stdout and wall time; rejects on a non-zero exit or the timeout. */
function timed(cmd: string, args: string[], timeoutMs: number): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      if (code === 0) resolve({ ms, stdout });
      else reject(new Error(`${path.basename(cmd)} ${args.join(' ')}: exit ${code ?? signal}\n${stderr}`));
    });
  });
}

/** fdatasync of a finished output: the flush the tool did not do itself (ms). */
async function flush(file: string): Promise<number> {
  const fh = await open(file, 'r+');
  try {
    const t0 = performance.now();
    await fh.datasync();
    return performance.now() - t0;
  } finally {
    await fh.close();
  }
}

function ytdlpArgs(url: string, out: string): string[] {
  return ['--no-config', '--no-cache-dir', '--quiet', '--no-progress', '--no-part', '-o', out, url];
}

function parseChild(stdout: string): ChildReport {
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as ChildReport;
}

async function runTool(
  tool: Tool,
  round: number,
  url: string,
  outDir: string,
  children: { current: ChildCommand; baseline?: ChildCommand },
  hash: boolean,
): Promise<RunRecord> {
  let wallMs: number;
  let transferMs: number;
  let out: string;
  let report: ChildReport | undefined;
  if (tool !== 'yt-dlp' && tool !== 'curl') {
    const child = tool === 'baseline' ? children.baseline! : children.current;
    const variant = tool === 'ours-1conn' ? ['1'] : tool === 'ours-parallel' ? ['-', 'Infinity'] : [];
    const args = [...child.args, ...(tool === 'ours-warm' ? ['--warm'] : []), url, outDir, '1', ...variant];
    const r = await timed(child.cmd, args, CFG.singleTimeoutMs);
    report = parseChild(r.stdout);
    wallMs = r.ms;
    transferMs = report.ms;
    out = report.files[0]!.path;
  } else {
    out = path.join(outDir, `${tool}.mp4`);
    const args = tool === 'curl' ? ['-s', '-o', out, url] : ytdlpArgs(url, out);
    wallMs = (await timed(tool, args, CFG.singleTimeoutMs)).ms;
    transferMs = wallMs;
  }
  const size = (await stat(out)).size;
  const flushMs = await flush(out);
  const rec: RunRecord = { tool, round, wallMs, transferMs, flushMs, size };
  if (hash) rec.sha256 = await sha256File(out);
  if (report) rec.child = report;
  await rm(out, { force: true });
  return rec;
}

const kib2mib = (k: number): number => round(k / 1024, 1);

function memoryRow(name: string, reports: ChildReport[]): MemoryRow {
  const med = (f: (r: ChildReport['rss']) => number) => kib2mib(summarize(reports.map((r) => f(r.rss))).p50);
  return {
    case: name,
    n: reports.length,
    beforeMiB: med((m) => m.before),
    sampledPeakMiB: med((m) => m.sampledPeak),
    hwmMiB: med((m) => m.hwm),
    heapUsedPeakMiB: med((m) => m.heapUsedPeak),
    arrayBuffersPeakMiB: med((m) => m.arrayBuffersPeak),
  };
}

async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

async function concurrentBench(
  server: FileServer,
  srcDir: string,
  outDir: string,
  bigName: string,
  child: ChildCommand,
  progress: (msg: string) => void,
): Promise<ConcurrentResult> {
  const n = CFG.concurrent;
  const free = await freeBytes(outDir);
  let fileMiB = CFG.fileMiB;
  let name = bigName;
  let sha: string | null = null;
  const reducedFile = free < (n * CFG.fileMiB + CFG.diskReserveMiB) * MiB;
  if (reducedFile) {
    fileMiB = CFG.concurrentFallbackMiB;
    name = `media-${fileMiB}.mp4`;
    progress(
      `only ${Math.floor(free / MiB)} MiB free: ${n} concurrent downloads of a ${fileMiB} MiB file instead of ${CFG.fileMiB} MiB`,
    );
    sha = makeRandomFile(path.join(srcDir, name), fileMiB * MiB, CFG.blockMiB * MiB);
  }
  const before = { ...server.statuses };
  const r = await timed(
    child.cmd,
    [...child.args, `${server.url}/${name}`, outDir, String(n)],
    CFG.concurrentTimeoutMs,
  );
  const report = parseChild(r.stdout);
  try {
    check(report.files.length === n, `${n} concurrent downloads reported ${report.files.length} files`);
    for (const f of report.files) {
      const size = (await stat(f.path)).size;
      check(size === fileMiB * MiB && f.size === size, `${f.path}: ${size} bytes, expected ${fileMiB * MiB}`);
    }
    const got = await sha256File(report.files[0]!.path);
    const statuses: Record<string, number> = {};
    for (const [k, v] of Object.entries(server.statuses)) if (v - (before[k] ?? 0)) statuses[k] = v - (before[k] ?? 0);
    check(
      Object.keys(statuses).every((s) => s === '200' || s === '206'),
      `server statuses ${JSON.stringify(statuses)}`,
    );
    return {
      downloads: n,
      fileMiB,
      reducedFile,
      totalMiB: n * fileMiB,
      wallMs: report.ms,
      aggregateMiBps: (n * fileMiB) / (report.ms / 1000),
      perDownloadMs: summarize(report.files.map((f) => f.ms)),
      sha256Ok: sha === null ? true : got === sha,
      memory: memoryRow(`${n} concurrent (one process)`, [report]),
      serverStatuses: statuses,
    };
  } finally {
    await Promise.all(report.files.map((f) => rm(f.path, { force: true })));
    if (reducedFile) await rm(path.join(srcDir, name), { force: true });
  }
}

const fmtMiBps = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(0)} MiB/s` : '–');
const fmtMiB = (x: number): string => `${x.toFixed(0)} MiB`;

function render(r: DownloadResults): { text: string; markdown: string } {
  const m = r.machine;
  const facts =
    `${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; yt-dlp ${m.ytdlp}; ${m.curl}; ` +
    `temp files on ${m.tmpFs}; load average ${m.loadAvg.start} → ${m.loadAvg.end}`;
  const fileDesc = `${CFG.fileMiB} MiB random file`;
  const tputHead = ['client', 'n', 'MiB/s p50', 'time p50', 'min–max', 'process p50', 'flush after exit p50', 'notes'];
  const tputRows = r.tools.map((t) => [
    t.label,
    String(t.n),
    fmtMiBps(t.mibps.p50),
    fmtMs(t.transferMs.p50),
    `${fmtMs(t.transferMs.min)}–${fmtMs(t.transferMs.max)}`,
    fmtMs(t.wallMs.p50),
    fmtMs(t.flushMs.p50),
    t.detail,
  ]);
  const q = r.ratios;
  const a = CFG.aims;
  const mark = (ok: boolean) => (ok ? 'meets' : 'misses');
  const ratioRows = [
    [
      'ours / yt-dlp (per invocation)',
      fmtRatio(q.oursOverYtdlp),
      `aim ≥ ${a.oursOverYtdlp}×: ${mark(r.aims.oursOverYtdlp)}`,
    ],
    [
      'ours / yt-dlp (transfer only)',
      fmtRatio(q.oursOverYtdlpTransferOnly),
      `without yt-dlp's fixed cost per invocation, ${fmtMs(r.ytdlpFixedMs.p50)} measured on a ${CFG.tinyBytes} B file`,
    ],
    ['ours / curl', fmtRatio(q.oursOverCurl), `aim ≥ ${a.oursOverCurl}×: ${mark(r.aims.oursOverCurl)}`],
    ...(r.baseline
      ? [[`ours / ours @ ${r.baseline.rev}`, fmtRatio(r.baseline.oursOverBaseline), 'before/after, same run']]
      : []),
    [
      '(ours + flush) / (curl + flush)',
      fmtRatio(q.oursOverCurlWithFlush),
      'both charged with an fdatasync of the output',
    ],
    [
      'ours, warm process / curl',
      fmtRatio(q.oursWarmOverCurl),
      'context: a long-running worker past its first download; the aim is judged on the fresh-process figure',
    ],
  ];
  const memHead = ['case', 'n', 'RSS before', 'RSS peak (50 ms samples)', 'VmHWM', 'V8 heap peak', 'Buffers peak'];
  const memRows = [...r.memory, r.concurrent.memory, ...(r.baseline ? [r.baseline.concurrent.memory] : [])].map((x) => [
    x.case,
    String(x.n),
    fmtMiB(x.beforeMiB),
    fmtMiB(x.sampledPeakMiB),
    fmtMiB(x.hwmMiB),
    fmtMiB(x.heapUsedPeakMiB),
    fmtMiB(x.arrayBuffersPeakMiB),
  ]);
  const c = r.concurrent;
  const b = r.baseline?.concurrent;
  const concRows = [
    ['downloads', `${c.downloads} × ${c.fileMiB} MiB${c.reducedFile ? ' (reduced: not enough disk space)' : ''}`],
    ['wall time', fmtMs(c.wallMs)],
    ['aggregate throughput', fmtMiBps(c.aggregateMiBps)],
    [
      'per download p50 (min–max)',
      `${fmtMs(c.perDownloadMs.p50)} (${fmtMs(c.perDownloadMs.min)}–${fmtMs(c.perDownloadMs.max)})`,
    ],
    [
      'peak RSS',
      `${fmtMiB(c.memory.sampledPeakMiB)} (VmHWM ${fmtMiB(c.memory.hwmMiB)}); aim < ${a.concurrentRssMB} MB (${fmtMiB((a.concurrentRssMB * 1e6) / MiB)}): ${mark(r.aims.concurrentRss)}`,
    ],
    ...(b
      ? [
          [
            `ours @ ${r.baseline!.rev}`,
            `${fmtMiBps(b.aggregateMiBps)} aggregate in ${fmtMs(b.wallMs)}, peak RSS ${fmtMiB(b.memory.sampledPeakMiB)} (VmHWM ${fmtMiB(b.memory.hwmMiB)})`,
          ],
        ]
      : []),
  ];
  const method =
    `Loopback, one ${fileDesc} served from the page cache by a streaming Node server with Range support. ` +
    `Runs interleaved (${r.tools.map((t) => t.tool).join(', ')}, then again) so background noise hits all alike; ` +
    `every output's size checked, the first run of each sha256-checked. ` +
    `Our downloader runs in a child process (${r.childRuntime}); its time is the downloadHttp call, which is how the worker runs it; ` +
    `yt-dlp and curl times are their whole invocation (the process column is spawn to exit for all). Each output is fdatasync'ed after the tool exits (the flush column); ` +
    `none of the tools syncs its own output.`;
  const text = [
    `machine: ${facts}`,
    '',
    `Throughput (${fileDesc}, loopback). ${method}`,
    textTable([tputHead, ...tputRows]),
    '',
    textTable([['ratio', 'value', 'note'], ...ratioRows]),
    '',
    `Memory of our downloader's process (RSS sampled every 50 ms while downloading; VmHWM = whole-life peak, start-up included)`,
    textTable([memHead, ...memRows]),
    '',
    `${c.downloads} concurrent downloads in one process (one HttpClient, default options)`,
    textTable([['measure', 'value'], ...concRows]),
  ].join('\n');
  const markdown = [
    `Measured with \`npm run bench -- download\` on ${r.date.slice(0, 10)} — ${facts}.`,
    method,
    '',
    `**Throughput**, ${fileDesc} over loopback:`,
    '',
    mdTable([tputHead, ...tputRows]),
    '',
    ratioRows.map(([k, v, n]) => `- ${k}: **${v}** (${n})`).join('\n'),
    '',
    `**Memory** of the process running our downloader (RSS sampled every 50 ms during the download; VmHWM is the whole-life peak):`,
    '',
    mdTable([memHead, ...memRows]),
    '',
    `**${c.downloads} concurrent downloads** of the ${c.fileMiB} MiB file in one process (one HttpClient, default options): ` +
      `${fmtMiBps(c.aggregateMiBps)} aggregate (${c.totalMiB} MiB in ${fmtMs(c.wallMs)}), ` +
      `peak RSS ${fmtMiB(Math.max(c.memory.sampledPeakMiB, c.memory.hwmMiB))} (aim < ${a.concurrentRssMB} MB: ${mark(r.aims.concurrentRss)}).` +
      (c.reducedFile
        ? ` The disk had too little room for ${c.downloads} × ${CFG.fileMiB} MiB, so a ${c.fileMiB} MiB file was used.`
        : '') +
      (b
        ? ` The downloader as of ${r.baseline!.rev}, in the same run: ${fmtMiBps(b.aggregateMiBps)} aggregate (${fmtMs(b.wallMs)}), peak RSS ${fmtMiB(Math.max(b.memory.sampledPeakMiB, b.memory.hwmMiB))}.`
        : ''),
    '',
  ].join('\n');
  return { text, markdown };
}

export async function runDownloadBench(progress: (msg: string) => void = () => {}): Promise<BenchReport> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ytbh-bench-dl-'));
  const srcDir = path.join(dir, 'src');
  const outDir = path.join(dir, 'out');
  const childDir = path.join(dir, 'child');
  let server: FileServer | undefined;
  try {
    await Promise.all([mkdir(srcDir), mkdir(outDir), mkdir(childDir)]);
    const machine = await machineFacts(dir);
    const bytes = CFG.fileMiB * MiB;
    check((await freeBytes(dir)) > bytes * 2 + CFG.diskReserveMiB * MiB, `not enough disk space in ${dir}`);
    progress(`writing the ${CFG.fileMiB} MiB random file`);
    const bigName = `media-${CFG.fileMiB}.mp4`;
    const sha256 = makeRandomFile(path.join(srcDir, bigName), bytes, CFG.blockMiB * MiB);
    makeRandomFile(path.join(srcDir, 'tiny.mp4'), CFG.tinyBytes, CFG.tinyBytes);
    const child = await prepareChild(childDir, progress);
    const baselineChild = BASELINE ? await prepareChild(childDir, progress, BASELINE) : undefined;
    const children = { current: child, ...(baselineChild ? { baseline: baselineChild } : {}) };
    server = await startFileServer(srcDir);
    const url = `${server.url}/${bigName}`;

    const runs: RunRecord[] = [];
    const fixed: number[] = [];
    const t0 = performance.now();
    for (let round = 0; round < CFG.runs; round++) {
      if (round > 0 && performance.now() - t0 > CFG.throughputBudgetMs) {
        progress(`throughput: time budget used up after ${round} rounds`);
        break;
      }
      progress(
        `throughput round ${round + 1}/${CFG.runs}: ${TOOLS.map((t) => t.tool).join(', ')}, yt-dlp on the tiny file`,
      );
      for (const { tool } of TOOLS) {
        const rec = await runTool(tool, round, url, outDir, children, round === 0);
        check(rec.size === bytes, `${tool} run ${round + 1}: ${rec.size} bytes, expected ${bytes}`);
        if (rec.sha256 !== undefined) check(rec.sha256 === sha256, `${tool} run ${round + 1}: sha256 differs`);
        runs.push(rec);
      }
      const tiny = path.join(outDir, 'tiny.mp4');
      fixed.push((await timed('yt-dlp', ytdlpArgs(`${server.url}/tiny.mp4`, tiny), CFG.singleTimeoutMs)).ms);
      check((await stat(tiny)).size === CFG.tinyBytes, 'yt-dlp tiny file size');
      await rm(tiny, { force: true });
    }

    const mibps = (ms: number) => CFG.fileMiB / (ms / 1000);
    const tools: ToolRow[] = TOOLS.map(({ tool, label, detail }) => {
      const mine = runs.filter((x) => x.tool === tool);
      return {
        tool,
        label,
        detail,
        n: mine.length,
        mibps: summarize(mine.map((x) => mibps(x.transferMs))),
        wallMs: summarize(mine.map((x) => x.wallMs)),
        transferMs: summarize(mine.map((x) => x.transferMs)),
        flushMs: summarize(mine.map((x) => x.flushMs)),
        sha256Ok: mine.some((x) => x.sha256 === sha256),
      };
    });
    const row = (t: Tool) => tools.find((x) => x.tool === t)!;
    const ytdlpFixedMs = summarize(fixed);
    const speeds = (t: Tool, f: (x: RunRecord) => number) =>
      summarize(runs.filter((x) => x.tool === t).map((x) => mibps(f(x)))).p50;
    const ours = row('ours').mibps.p50;
    const ratios = {
      oursOverYtdlp: ours / row('yt-dlp').mibps.p50,
      oursOverYtdlpTransferOnly: ours / speeds('yt-dlp', (x) => Math.max(1, x.wallMs - ytdlpFixedMs.p50)),
      oursOverCurl: ours / row('curl').mibps.p50,
      oursOverCurlWithFlush:
        speeds('ours', (x) => x.transferMs + x.flushMs) / speeds('curl', (x) => x.wallMs + x.flushMs),
      oursWarmOverCurl: row('ours-warm').mibps.p50 / row('curl').mibps.p50,
    };
    const childReports = (t: Tool) => runs.filter((x) => x.tool === t && x.child).map((x) => x.child!);
    const memory = [
      memoryRow(`1 download, default options`, childReports('ours')),
      memoryRow(`1 download, 1 connection`, childReports('ours-1conn')),
      memoryRow(`1 download, parallel at once`, childReports('ours-parallel')),
      memoryRow(`1 download, warm process`, childReports('ours-warm')),
      ...(BASELINE ? [memoryRow(`1 download @ ${BASELINE}`, childReports('baseline'))] : []),
    ];

    progress(`${CFG.concurrent} concurrent downloads in one child process`);
    const concurrent = await concurrentBench(server, srcDir, outDir, bigName, child, progress);
    let baseline: DownloadResults['baseline'];
    if (baselineChild) {
      progress(`${CFG.concurrent} concurrent downloads @ ${BASELINE}`);
      const c = await concurrentBench(server, srcDir, outDir, bigName, baselineChild, progress);
      c.memory.case = `${CFG.concurrent} concurrent @ ${BASELINE}`;
      baseline = { rev: BASELINE!, oursOverBaseline: ours / row('baseline').mibps.p50, concurrent: c };
    }
    machine.loadAvg.end = round(os.loadavg()[0]!);

    const results: DownloadResults = {
      benchmark: 'download',
      date: new Date().toISOString(),
      machine,
      config: CFG,
      file: { bytes, sha256 },
      childRuntime: child.runtime,
      ytdlpCommand: `yt-dlp ${ytdlpArgs('URL', 'OUT').join(' ')}`,
      curlCommand: 'curl -s -o OUT URL',
      ytdlpFixedMs,
      runs,
      tools,
      ratios,
      memory,
      concurrent,
      ...(baseline ? { baseline } : {}),
      aims: {
        oursOverYtdlp: ratios.oursOverYtdlp >= CFG.aims.oursOverYtdlp,
        oursOverCurl: ratios.oursOverCurl >= CFG.aims.oursOverCurl,
        concurrentRss:
          Math.max(concurrent.memory.sampledPeakMiB, concurrent.memory.hwmMiB) * MiB < CFG.aims.concurrentRssMB * 1e6,
      },
    };
    return { name: 'download', json: results, ...render(results) };
  } finally {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
