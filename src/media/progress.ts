/**
 * Parses the `key=value` blocks ffmpeg writes with `-progress pipe:1` into
 * throttled, monotonic progress reports. Pure (the clock is injectable), so
 * the tests can drive it line by line.
 */

export interface MediaProgress {
  /** 0–100, one decimal; null while the duration is unknown */
  percent: number | null;
  /** how far into the output ffmpeg has got */
  outTimeSeconds: number;
}

export type ProgressListener = (p: MediaProgress) => void;

export interface ProgressParserOptions {
  /** expected output duration; without it `percent` stays null until the end */
  durationSeconds?: number | null | undefined;
  onProgress: ProgressListener;
  /** minimum gap between reports (default 250 ms: at most 4 a second) */
  minIntervalMs?: number;
  now?: () => number;
}

export interface ProgressParser {
  /** feeds one stdout line */
  line(line: string): void;
  /** reports completion (100 %) once; call after ffmpeg exited successfully */
  finish(): void;
}

export const PROGRESS_INTERVAL_MS = 250;

export function createProgressParser(opts: ProgressParserOptions): ProgressParser {
  const duration = opts.durationSeconds && opts.durationSeconds > 0 ? opts.durationSeconds : null;
  const minInterval = opts.minIntervalMs ?? PROGRESS_INTERVAL_MS;
  const now = opts.now ?? Date.now;
  let outTime = 0; // the furthest point seen: ffmpeg's own figure can step back with -c copy
  let sawMicros = false;
  let lastAt = -Infinity;
  let lastPercent = -1;
  let lastTime = -1;
  let finished = false;

  const percentOf = (t: number): number | null =>
    duration === null ? null : Math.min(100, Math.floor((t / duration) * 1000) / 10);

  const advance = (seconds: number): void => {
    if (Number.isFinite(seconds) && seconds > outTime) outTime = seconds;
  };

  const report = (p: MediaProgress): void => {
    lastAt = now();
    lastPercent = p.percent ?? lastPercent;
    lastTime = p.outTimeSeconds;
    opts.onProgress(p);
  };

  return {
    line(raw) {
      if (finished) return;
      const eq = raw.indexOf('=');
      if (eq <= 0) return;
      const key = raw.slice(0, eq).trim();
      const value = raw.slice(eq + 1).trim();
      switch (key) {
        case 'out_time_us':
          // the precise figure (ffmpeg ≥ 4.1); once seen, the others are ignored
          sawMicros = true;
          if (/^-?\d+$/.test(value)) advance(Number(value) / 1e6);
          break;
        case 'out_time_ms':
          // microseconds too, despite the name (an ffmpeg quirk kept for compatibility)
          if (!sawMicros && /^-?\d+$/.test(value)) advance(Number(value) / 1e6);
          break;
        case 'out_time':
          if (!sawMicros) advance(clockSeconds(value));
          break;
        case 'progress': {
          // end of a block; the final block is reported by finish(), after a successful exit
          if (value !== 'continue') break;
          const percent = percentOf(outTime);
          const moved = percent === null ? outTime > lastTime : percent > lastPercent;
          if (moved && now() - lastAt >= minInterval) report({ percent, outTimeSeconds: outTime });
          break;
        }
      }
    },
    finish() {
      if (finished) return;
      finished = true;
      report({ percent: 100, outTimeSeconds: Math.max(outTime, lastTime, 0) });
    },
  };
}

/** "00:01:02.500000" → 62.5; anything else → NaN */
function clockSeconds(v: string): number {
  const m = /^(-?)(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(v);
  if (!m) return NaN;
  const s = Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
  return m[1] ? -s : s;
}
