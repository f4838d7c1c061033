/** A looked-up video: thumbnail, title, uploader, duration, platform, its formats and the download button. */
import { useState } from 'react';
import { api, call } from '../api/client';
import type { Task, VideoInfo } from '../api/types';
import { useI18n } from '../i18n/i18n';
import { formatDuration } from '../lib/format';
import { toOptions, type Choice } from '../lib/options';
import { ErrorNotice } from './feedback';
import { FormatTable } from './FormatTable';
import { OptionsForm } from './OptionsForm';
import { PlatformBadge, Thumbnail } from './task-bits';

export function VideoCard({
  info,
  sourceUrl,
  initialChoice,
  onQueued,
  onListAll,
}: {
  info: VideoInfo;
  sourceUrl: string;
  initialChoice: Choice;
  onQueued: (t: Task) => void;
  /** For pages that may embed several videos: show them all as a playlist instead. */
  onListAll?: () => void;
}) {
  const { t } = useI18n();
  const [choice, setChoice] = useState(initialChoice);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const download = async () => {
    setBusy(true);
    setError(null);
    try {
      const task = await call(api.POST('/api/v2/downloads', { body: { url: sourceUrl, options: toOptions(choice) } }));
      onQueued(task);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <article className="card video-card" aria-labelledby="video-title">
      <Thumbnail src={info.thumbnail_url} alt={t('home.thumbnail_of', { title: info.title })} />
      <div className="video-body">
        <h2 id="video-title" className="video-title">
          {info.title}
        </h2>
        <p className="video-meta">
          <PlatformBadge platform={info.platform} />
          {info.uploader && <span className="video-uploader">{info.uploader}</span>}
          <span className="video-duration" aria-label={t('home.duration')}>
            {info.is_live ? t('home.live') : formatDuration(info.duration)}
          </span>
        </p>
        <OptionsForm choice={choice} onChange={setChoice} formats={info.formats} />
        {info.formats.length > 0 && <FormatTable formats={info.formats} />}
        <button type="button" className="btn btn-primary" disabled={busy} onClick={() => void download()}>
          {busy ? t('home.queueing') : t('home.download')}
        </button>
        {onListAll && (
          <button type="button" className="btn btn-ghost" onClick={onListAll}>
            {t('home.list_all')}
          </button>
        )}
        {error !== null && <ErrorNotice error={error} />}
      </div>
    </article>
  );
}
