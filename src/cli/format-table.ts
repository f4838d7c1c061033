/** Terminal rendering of extraction results (`ytbh info`, `ytbh formats`). */
import type { Format, VideoInfo } from '../extract/model.js';

function size(bytes: number | null, approx?: boolean): string {
  if (bytes === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${approx ? '~' : ''}${v.toFixed(i === 0 ? 0 : 2)}${units[i]}`;
}

function duration(s: number | null): string {
  if (s === null) return 'unknown';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.round(s % 60);
  const mm = String(m).padStart(h ? 2 : 1, '0');
  return `${h ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

function resolution(f: Format): string {
  if (f.kind === 'audio') return 'audio only';
  return f.width && f.height ? `${f.width}x${f.height}` : f.height ? `${f.height}p` : 'unknown';
}

/** A table in the spirit of `yt-dlp -F`. */
export function formatsTable(formats: Format[]): string {
  const header = ['ID', 'EXT', 'RESOLUTION', 'FPS', 'FILESIZE', 'TBR', 'PROTO', 'VCODEC', 'ACODEC', 'MORE INFO'];
  const rows = formats.map((f) => [
    f.format_id,
    f.ext,
    resolution(f),
    f.fps ? String(Math.round(f.fps)) : '',
    size(f.filesize, f.filesize_approx),
    f.bitrate ? `${Math.round(f.bitrate / 1000)}k` : '',
    f.protocol,
    f.vcodec ?? (f.kind === 'audio' ? 'audio only' : ''),
    f.acodec ?? (f.kind === 'video' ? 'video only' : ''),
    [f.language ? `[${f.language}]` : '', f.note ?? ''].filter(Boolean).join(' '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function infoSummary(info: VideoInfo): string {
  const lines = [
    `${info.title}`,
    `  platform:  ${info.platform} (${info.extractor})`,
    `  id:        ${info.id}`,
    `  url:       ${info.url}`,
    `  duration:  ${info.is_live ? 'live' : duration(info.duration)}`,
    `  uploader:  ${info.uploader ?? 'unknown'}`,
    `  uploaded:  ${info.upload_date ?? 'unknown'}`,
    `  views:     ${info.view_count ?? 'unknown'}`,
    `  formats:   ${info.formats.length}`,
  ];
  if (info.images?.length) lines.push(`  images:    ${info.images.length}`);
  return lines.join('\n');
}
