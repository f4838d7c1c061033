/** Numbers as people read them: durations, sizes, speeds, dates (in the UI language). */

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

export function formatBytes(bytes: number | null | undefined, lang: string): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '–';
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : 1;
  return `${v.toLocaleString(lang, { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${UNITS[i]}`;
}

export function formatSpeed(bps: number | null | undefined, lang: string): string {
  return bps ? `${formatBytes(bps, lang)}/s` : '–';
}

export function formatDate(iso: string | null | undefined, lang: string): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '–' : d.toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatPercent(p: number): string {
  return `${Math.max(0, Math.min(100, Math.round(p)))}%`;
}

/** The first http(s) URL in shared text ("Check this out https://youtu.be/…"), or null. */
export function firstUrl(...texts: (string | null | undefined)[]): string | null {
  for (const t of texts) {
    if (!t) continue;
    const m = /https?:\/\/[^\s<>"']+/i.exec(t);
    if (m) return m[0].replace(/[),.;!?]+$/, '');
  }
  return null;
}
