/**
 * A terminal progress line for `ytbh download`, on stderr so stdout stays
 * the result. On a TTY one line is redrawn in place with `\r`; otherwise
 * (logs, CI, pipes) a plain line is printed on every status change and at
 * most every few seconds in between.
 */

export interface ProgressState {
  /** queued | extracting | downloading | processing | completed | failed | cancelled */
  status: string;
  /** 0–100 */
  progress: number;
  bytesDone?: number | null;
  bytesTotal?: number | null;
  speedBps?: number | null;
  etaSeconds?: number | null;
  /** shown after the numbers, e.g. "retrying: upstream timeout" */
  note?: string | null;
}

export interface ProgressOutput {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let v = Math.max(0, bytes);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)} ${UNITS[i]}`;
}

export function formatSpeed(bps: number | null | undefined): string {
  return bps && bps > 0 ? `${formatBytes(bps)}/s` : '--';
}

export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${String(m).padStart(2, '0')}:${sec}`;
}

/**
 * One line: `[#######.............]  35.0%  1.20 MiB/s  ETA 00:12  downloading 3.1 MiB/8.9 MiB`.
 * The byte counts and the note go first when `width` is short; the rest is cut at `width - 1`.
 */
export function renderLine(state: ProgressState, width = 80, barWidth = 16): string {
  const pct = Math.max(0, Math.min(100, Number.isFinite(state.progress) ? state.progress : 0));
  const filled = Math.round((pct / 100) * barWidth);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`;
  let line =
    `${bar} ${pct.toFixed(1).padStart(5)}%  ${formatSpeed(state.speedBps).padStart(10)}  ` +
    `ETA ${formatEta(state.etaSeconds)}  ${state.status}`;
  const extras = [
    state.bytesDone && state.bytesDone > 0
      ? ` ${formatBytes(state.bytesDone)}${state.bytesTotal ? `/${formatBytes(state.bytesTotal)}` : ''}`
      : '',
    state.note ? `  ${state.note}` : '',
  ];
  for (const extra of extras) if (extra && line.length + extra.length < width) line += extra;
  return line.length >= width ? line.slice(0, Math.max(0, width - 1)) : line;
}

export class ProgressBar {
  private last: ProgressState | null = null;
  private lastPrinted = 0;
  private lastPrintedStatus = '';
  private drawn = false;

  constructor(
    private readonly out: ProgressOutput,
    private readonly opts: { plainIntervalMs?: number; now?: () => number } = {},
  ) {}

  get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  update(state: ProgressState): void {
    this.last = state;
    if (this.tty) {
      const width = Math.max(20, (this.out.columns ?? 80) - 1);
      this.out.write(`\r${renderLine(state, width)}\x1b[K`);
      this.drawn = true;
      return;
    }
    const now = (this.opts.now ?? Date.now)();
    const changed = state.status !== this.lastPrintedStatus;
    if (changed || now - this.lastPrinted >= (this.opts.plainIntervalMs ?? 2000)) {
      this.lastPrinted = now;
      this.lastPrintedStatus = state.status;
      this.out.write(`${renderLine(state, 200)}\n`);
    }
  }

  /** Ends the redrawn line (so what follows starts on a fresh one). */
  finish(state?: ProgressState): void {
    if (state) this.update(state);
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  /** Clears the redrawn line, e.g. before an error message. */
  clear(): void {
    if (this.tty && this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }

  get state(): ProgressState | null {
    return this.last;
  }
}
