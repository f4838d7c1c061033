/** Every format a video offers: quality, codec, size, audio language. */
import type { Format } from '../api/types';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { formatBytes } from '../lib/format';

function quality(f: Format): string {
  if (f.kind === 'audio') return f.bitrate ? `${Math.round(f.bitrate / 1000)} kbps` : '–';
  const h = f.height ? `${f.height}p` : '–';
  return f.fps && f.fps > 30 ? `${h}${Math.round(f.fps)}` : h;
}

function codec(f: Format): string {
  const short = (c: string | null) => (c ? c.split('.')[0] : null);
  return [short(f.vcodec), short(f.acodec)].filter(Boolean).join(' + ') || '–';
}

export function FormatTable({ formats }: { formats: Format[] }) {
  const { t, lang } = useI18n();
  const sorted = [...formats].sort(
    (a, b) =>
      (a.kind === 'audio' ? 1 : 0) - (b.kind === 'audio' ? 1 : 0) ||
      (b.height ?? 0) - (a.height ?? 0) ||
      (b.bitrate ?? 0) - (a.bitrate ?? 0),
  );
  return (
    <details className="formats">
      <summary>{t('home.formats_offered', { count: formats.length })}</summary>
      <div className="table-scroll" tabIndex={0} role="region" aria-label={t('home.formats_table')}>
        <table>
          <thead>
            <tr>
              <th scope="col">{t('format.quality')}</th>
              <th scope="col">{t('format.kind')}</th>
              <th scope="col">{t('format.container')}</th>
              <th scope="col">{t('format.codec')}</th>
              <th scope="col">{t('format.size')}</th>
              <th scope="col">{t('format.language')}</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((f) => (
              <tr key={f.format_id}>
                <td>{quality(f)}</td>
                <td>{t(`format.kind_${f.kind}` as MessageKey)}</td>
                <td>{f.ext}</td>
                <td>{codec(f)}</td>
                <td>{f.filesize ? `${f.filesize_approx ? '≈ ' : ''}${formatBytes(f.filesize, lang)}` : '–'}</td>
                <td>{f.language ?? (f.note || '–')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}
