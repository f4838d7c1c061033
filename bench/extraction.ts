/**
 * Extraction benchmark, everything on loopback:
 *  1. native cold extraction (recorded platform answers from the replay
 *     server) vs the yt-dlp engine on an ffmpeg-generated clip;
 *  2. GET /api/v2/videos/info on the real server: cold (refresh=true) and
 *     warm (cache hit) latency, and warm throughput under a bounded
 *     closed-loop load next to a bare Fastify app serving the same JSON.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import { Pool } from 'undici';
import { clearWbiKeyCache } from '../src/extract/bilibili/api.js';
import { bilibiliExtractor } from '../src/extract/bilibili/extractor.js';
import type { ExtractContext, Extractor } from '../src/extract/extractor.js';
import type { VideoInfo } from '../src/extract/model.js';
import { youtubeExtractor } from '../src/extract/youtube/extractor.js';
import { createYtdlpExtractor } from '../src/extract/ytdlp/extractor.js';
import { HttpClient } from '../src/infra/http-client/http-client.js';
import { makeMedia } from '../test/support/media.js';
import { startMediaServer } from '../test/support/media-server.js';
import { startReplayServer, type ReplayServer } from '../test/support/replay-server.js';
import { startTestServer } from '../test/support/server.js';
import { runLoadIsolated, type LoadResult } from './lib/load.js';
import { fmtMs, fmtRate, fmtRatio, mdTable, round, sample, summarize, textTable, type Stats } from './lib/stats.js';
import { baseMachineFacts, toolVersion, type BaseMachine } from './lib/machine.js';

/** Bounds: every loop stops at its count or its time, whichever comes first. */
const CFG = {
  nativeIterations: 200,
  nativeWarmup: 5,
  nativeMaxMs: 20_000,
  ytdlpIterations: 10,
  ytdlpMaxMs: 40_000,
  coldIterations: 100,
  coldMaxMs: 15_000,
  loadConnections: 10,
  loadDurationMs: 5_000,
  loadRounds: 4,
  loadWarmupMs: 1_000,
};

/** Recorded videos the replay server can answer in full. */
const VIDEOS: { name: string; url: string; extractor: Extractor }[] = [
  { name: 'youtube', url: 'https://www.youtube.com/watch?v=7PIMiDcwNvc', extractor: youtubeExtractor },
  { name: 'bilibili', url: 'https://www.bilibili.com/video/BV1Et4y1r7Eu', extractor: bilibiliExtractor },
];

const CLIP = { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' } as const;

export interface Machine extends BaseMachine {
  ffmpeg: string;
}

interface LatencyRow {
  name: string;
  detail: string;
  latency: Stats;
}

interface ServerRow {
  platform: string;
  url: string;
  responseBytes: number;
  cold: Stats;
  warm: Stats;
  warmLoad: LoadResult;
  bareLoad: LoadResult;
  warmOverBare: number;
}

export interface ExtractionResults {
  benchmark: 'extraction';
  date: string;
  machine: Machine;
  config: typeof CFG;
  native: LatencyRow[];
  ytdlp: LatencyRow[];
  /** yt-dlp (probe off) p50 / native p50, per platform */
  ytdlpOverNative: Record<string, number>;
  server: ServerRow[];
}

export interface BenchReport {
  name: string;
  json: unknown;
  text: string;
  markdown: string;
}

async function machineFacts(): Promise<Machine> {
  return {
    ...(await baseMachineFacts()),
    ffmpeg: (await toolVersion('ffmpeg', ['-hide_banner', '-version'])).replace(/ Copyright.*$/, ''),
  };
}

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`benchmark sanity check failed: ${what}`);
}

/** Every replay request since `from` must have matched a recorded answer. */
function assertReplayed(replay: ReplayServer, from: number, what: string): void {
  const missed = replay.requests.slice(from).filter((r) => r.route === null);
  check(!missed.length, `${what}: unrecorded request ${missed[0]?.host}${missed[0]?.path}`);
}

async function nativeBench(replay: ReplayServer, log: ExtractContext['log']): Promise<LatencyRow[]> {
  const http = new HttpClient({ upstreamRewrite: replay.url });
  const ctx: ExtractContext = { http, log };
  const rows: LatencyRow[] = [];
  try {
    for (const v of VIDEOS) {
      const target = v.extractor.match(new URL(v.url));
      check(target, `${v.url} is not matched`);
      const from = replay.requests.length;
      const first = await v.extractor.extract(target, ctx);
      check(first.formats.length > 0, `${v.name}: no formats`);
      const samples = await sample(() => v.extractor.extract(target, ctx), {
        iterations: CFG.nativeIterations,
        warmup: CFG.nativeWarmup,
        maxMs: CFG.nativeMaxMs,
        // Nothing carried over between iterations: BiliBili refetches its WBI keys every time.
        before: clearWbiKeyCache,
      });
      assertReplayed(replay, from, v.name);
      const perCall = (replay.requests.length - from) / (samples.length + CFG.nativeWarmup + 1);
      replay.requests.length = 0;
      rows.push({
        name: `native ${v.name}`,
        detail: `${first.formats.length} formats, ${round(perCall, 1)} upstream requests/extraction`,
        latency: summarize(samples),
      });
    }
  } finally {
    await http.close();
  }
  return rows;
}

async function ytdlpBench(): Promise<LatencyRow[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ytbh-bench-'));
  const media = await startMediaServer(dir).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  try {
    const clip = await makeMedia(dir, CLIP);
    const url = `${media.url}/${clip.name}`;
    const ctx = {} as ExtractContext; // the yt-dlp engine uses neither the HTTP client nor the logger
    const rows: LatencyRow[] = [];
    for (const probe of [false, true]) {
      const engine = createYtdlpExtractor({
        ytdlpPath: 'yt-dlp',
        timeoutMs: 30_000,
        allowPrivateAddresses: true,
        probe,
      });
      const target = engine.match(new URL(url))!;
      const first = await engine.extract(target, ctx);
      check(first.formats.length > 0, 'yt-dlp: no formats');
      const samples = await sample(() => engine.extract(target, ctx), {
        iterations: CFG.ytdlpIterations,
        maxMs: CFG.ytdlpMaxMs,
      });
      rows.push({
        name: `yt-dlp${probe ? ' + ffprobe' : ''}`,
        detail: `yt-dlp -J --no-playlist ${CLIP.durationS} s ${CLIP.width}×${CLIP.height} mp4${probe ? ', probe on' : ', probe: false'}`,
        latency: summarize(samples),
      });
    }
    return rows;
  } finally {
    await media.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Starts a bare Fastify app on 127.0.0.1 that answers one route with `body` from memory. */
async function bareServer(body: unknown): Promise<{ url: string; close: () => Promise<void> }> {
  const app = Fastify({ logger: false });
  app.get('/info', async () => body);
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `${url}/info`, close: () => app.close() };
}

async function serverBench(replay: ReplayServer): Promise<ServerRow[]> {
  const server = await startTestServer('embedded', {
    YTBH_UPSTREAM_REWRITE: replay.url,
    LOG_LEVEL: 'silent',
    // The default outbound budget (bilibili=60/60) would stop the cold series; the counter still runs.
    PLATFORM_BUDGET: 'youtube=1000000/60,bilibili=1000000/60',
  });
  const pool = new Pool(server.url, { connections: 1 });
  const rows: ServerRow[] = [];
  try {
    for (const v of VIDEOS) {
      const infoPath = `/api/v2/videos/info?url=${encodeURIComponent(v.url)}`;
      const get = async (p: string, cache: 'hit' | 'miss'): Promise<string> => {
        const res = await pool.request({ path: p, method: 'GET' });
        const text = await res.body.text();
        check(res.statusCode === 200, `${p}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
        check(res.headers['x-cache'] === cache, `${p}: x-cache ${String(res.headers['x-cache'])}, expected ${cache}`);
        return text;
      };
      const from = replay.requests.length;
      const cold = await sample(() => get(`${infoPath}&refresh=true`, 'miss'), {
        iterations: CFG.coldIterations,
        warmup: 3,
        maxMs: CFG.coldMaxMs,
        before: clearWbiKeyCache,
      });
      assertReplayed(replay, from, `server ${v.name}`);
      replay.requests.length = 0;
      const body = await get(infoPath, 'hit');
      const warm = await sample(() => get(infoPath, 'hit'), { iterations: 200, warmup: 20, maxMs: 5_000 });
      check(replay.requests.length === 0, 'warm requests reached the replay server');
      const bare = await bareServer(JSON.parse(body) as VideoInfo);
      let warmLoad: LoadResult;
      let bareLoad: LoadResult;
      try {
        [warmLoad, bareLoad] = (await runLoadIsolated({
          targets: [{ url: server.url + infoPath, expectHeader: ['x-cache', 'hit'] }, { url: bare.url }],
          connections: CFG.loadConnections,
          durationMs: CFG.loadDurationMs,
          rounds: CFG.loadRounds,
          warmupMs: CFG.loadWarmupMs,
        })) as [LoadResult, LoadResult];
      } finally {
        await bare.close();
      }
      check(replay.requests.length === 0, 'warm requests reached the replay server');
      for (const l of [warmLoad, bareLoad]) check(l.errors === 0, `${l.url}: ${l.errors} failed requests`);
      rows.push({
        platform: v.name,
        url: v.url,
        responseBytes: Buffer.byteLength(body),
        cold: summarize(cold),
        warm: summarize(warm),
        warmLoad,
        bareLoad,
        warmOverBare: warmLoad.rps / bareLoad.rps,
      });
    }
  } finally {
    await pool.close();
    await server.close();
  }
  return rows;
}

function render(r: ExtractionResults): { text: string; markdown: string } {
  const m = r.machine;
  const facts =
    `${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; yt-dlp ${m.ytdlp}; ${m.ffmpeg}; ` +
    `load average ${m.loadAvg.start} → ${m.loadAvg.end}`;
  const head = ['case', 'n', 'p50', 'p99', 'notes'];
  const latencyRows = [...r.native, ...r.ytdlp].map((x) => [
    x.name,
    String(x.latency.n),
    fmtMs(x.latency.p50),
    fmtMs(x.latency.p99),
    x.detail,
  ]);
  const ratioRows = Object.entries(r.ytdlpOverNative).map(([p, x]) => [`yt-dlp p50 / native ${p} p50`, fmtRatio(x)]);
  const serverHead = [
    'platform',
    'response',
    'cold p50',
    'cold p99',
    'warm p50',
    'warm p99',
    'warm load',
    'bare Fastify',
    'warm / bare',
  ];
  const serverRows = r.server.map((s) => [
    s.platform,
    `${(s.responseBytes / 1024).toFixed(1)} KiB`,
    fmtMs(s.cold.p50),
    fmtMs(s.cold.p99),
    fmtMs(s.warm.p50),
    fmtMs(s.warm.p99),
    `${fmtRate(s.warmLoad.rps)} (p99 ${fmtMs(s.warmLoad.latency.p99)})`,
    `${fmtRate(s.bareLoad.rps)} (p99 ${fmtMs(s.bareLoad.latency.p99)})`,
    fmtRatio(s.warmOverBare),
  ]);
  const c = r.config;
  const loadNote =
    `${c.loadConnections} connections × ${c.loadDurationMs / 1000} s closed loop per server (after ${c.loadWarmupMs / 1000} s warm-up), ` +
    `in ${c.loadRounds} alternating slices so background noise hits both alike; client in a worker thread`;
  const text = [
    `machine: ${facts}`,
    '',
    'Extraction, cold (no result cache; recorded platform answers on loopback vs yt-dlp on a local file)',
    textTable([head, ...latencyRows]),
    '',
    textTable([['ratio', 'value'], ...ratioRows]),
    '',
    `GET /api/v2/videos/info (embedded backends). cold = refresh=true, sequential; warm = cache hit, sequential; load: ${loadNote}`,
    textTable([serverHead, ...serverRows]),
  ].join('\n');
  const markdown = [
    `Measured with \`npm run bench\` on ${r.date.slice(0, 10)} — ${facts}.`,
    'Everything runs on loopback: native engines read recorded platform answers from a local replay server; yt-dlp reads an ffmpeg-generated clip from a local HTTP server.',
    '',
    '**Cold extraction** (no cache):',
    '',
    mdTable([head, ...latencyRows]),
    '',
    ratioRows.map(([k, v]) => `- ${k}: **${v}**`).join('\n'),
    '',
    `**\`GET /api/v2/videos/info\`** (embedded database and cache). Cold = \`refresh=true\`, one request at a time; warm = served from the cache; load = ${loadNote}; the bare Fastify app returns the same JSON from memory.`,
    '',
    mdTable([serverHead, ...serverRows]),
    '',
  ].join('\n');
  return { text, markdown };
}

export async function runExtractionBench(progress: (msg: string) => void = () => {}): Promise<BenchReport> {
  const machine = await machineFacts();
  const log = pino({ level: 'silent' });
  // youtubei.js sends its own client versions, newer than the recording (as in the extractor tests).
  const replay = await startReplayServer([], ['body.context.client.clientVersion']);
  let results: ExtractionResults;
  try {
    progress(`native extraction (${CFG.nativeIterations} iterations per platform)`);
    const native = await nativeBench(replay, log);
    progress(`yt-dlp engine (${CFG.ytdlpIterations} iterations, probe off and on)`);
    const ytdlp = await ytdlpBench();
    const ytdlpP50 = ytdlp[0]!.latency.p50;
    const ytdlpOverNative = Object.fromEntries(
      native.map((n) => [n.name.replace(/^native /, ''), ytdlpP50 / n.latency.p50]),
    );
    progress('GET /api/v2/videos/info: cold, warm, load vs bare Fastify');
    const server = await serverBench(replay);
    results = {
      benchmark: 'extraction',
      date: new Date().toISOString(),
      machine,
      config: CFG,
      native,
      ytdlp,
      ytdlpOverNative,
      server,
    };
    machine.loadAvg.end = round(os.loadavg()[0]!);
  } finally {
    await replay.stop();
  }
  return { name: 'extraction', json: results, ...render(results) };
}
