/**
 * Plays a finished download in the page: a <video>/<audio> element on the
 * file endpoint (Range requests make seeking work). Media elements cannot send
 * headers, so the URL carries the access token; when it expires mid-play the
 * element fails, and gets a fresh URL at the same position once.
 */
import { useEffect, useRef, useState } from 'react';
import { withAccessToken, refreshSession } from '../api/client';
import { getSession } from '../api/session';
import type { Task } from '../api/types';
import { DownloadLink } from './DownloadLink';
import { useI18n } from '../i18n/i18n';

export function Player({ task, title, onClose }: { task: Task; title: string; onClose: () => void }) {
  const { t } = useI18n();
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  const media = useRef<HTMLVideoElement & HTMLAudioElement>(null);
  const renewed = useRef(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const fileUrl = task.file_url ?? `/api/v2/downloads/${task.id}/file`;

  useEffect(() => {
    let live = true;
    renewed.current = false;
    setFailed(false);
    void withAccessToken(fileUrl).then((u) => live && setSrc(u));
    heading.current?.focus();
    return () => {
      live = false;
    };
  }, [fileUrl]);

  const onError = async () => {
    if (renewed.current) {
      setFailed(true);
      return;
    }
    renewed.current = true;
    const at = media.current?.currentTime ?? 0;
    await refreshSession(getSession()?.access_token);
    setSrc(await withAccessToken(fileUrl));
    requestAnimationFrame(() => {
      if (media.current) media.current.currentTime = at;
    });
  };

  return (
    <section className="card player" aria-labelledby="player-title">
      <div className="page-head">
        <h2 id="player-title" ref={heading} tabIndex={-1}>
          {title}
        </h2>
        <button type="button" className="btn btn-secondary" onClick={onClose}>
          {t('common.close')}
        </button>
      </div>
      {src &&
        (task.audio_only ? (
          <audio ref={media} controls preload="metadata" src={src} onError={() => void onError()} aria-label={title} />
        ) : (
          <video
            ref={media}
            controls
            playsInline
            preload="metadata"
            src={src}
            onError={() => void onError()}
            aria-label={title}
          />
        ))}
      {failed && (
        <p className="notice notice-error" role="alert">
          {t('library.play_failed')}
        </p>
      )}
      <DownloadLink className="btn btn-secondary" path={fileUrl}>
        {t('library.download_to_device')}
      </DownloadLink>
    </section>
  );
}
