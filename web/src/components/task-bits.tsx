/** Small pieces of a download's display: status chip, progress bar, platform badge, thumbnail. */
import { useEffect, useState } from 'react';
import { withAccessToken } from '../api/client';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { formatPercent } from '../lib/format';

export function StatusChip({ status }: { status: string }) {
  const { t } = useI18n();
  const known = ['queued', 'extracting', 'downloading', 'processing', 'completed', 'failed', 'cancelled'];
  return (
    <span className={`chip chip-${known.includes(status) ? status : 'other'}`} data-status={status}>
      {known.includes(status) ? t(`status.${status}` as MessageKey) : status}
    </span>
  );
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const pct = Math.max(0, Math.min(100, value));
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(pct)}
      aria-valuetext={formatPercent(pct)}
    >
      <div className="progress-fill" style={{ width: `${pct}%` }} />
    </div>
  );
}

const PLATFORM_NAMES: Record<string, string> = {
  youtube: 'YouTube',
  bilibili: 'BiliBili',
  twitch: 'Twitch',
  tiktok: 'TikTok',
  generic: 'Web',
};

export function platformName(p: string): string {
  return PLATFORM_NAMES[p] ?? p;
}

export function PlatformBadge({ platform }: { platform: string }) {
  return <span className={`badge badge-${platform}`}>{platformName(platform)}</span>;
}

/**
 * A thumbnail: our own (a download's stored one, under /api/) or an https one
 * from a platform CDN (the page's CSP allows https: images); a placeholder
 * otherwise. An <img> sends no headers, so ours get the access token in the
 * URL, as the player's file URL does.
 */
export function Thumbnail({ src, alt, audio }: { src: string | null | undefined; alt: string; audio?: boolean }) {
  const [failed, setFailed] = useState(false);
  const own = !!src && src.startsWith('/api/');
  const [signed, setSigned] = useState<string | null>(null);
  useEffect(() => {
    setFailed(false);
    setSigned(null);
    if (!src || !src.startsWith('/api/')) return;
    let live = true;
    void withAccessToken(src).then((u) => live && setSigned(u));
    return () => {
      live = false;
    };
  }, [src]);
  const url = own ? signed : src?.startsWith('https://') ? src : null;
  if (url && !failed) {
    return (
      <img
        className="thumb"
        src={url}
        alt={alt}
        loading="lazy"
        referrerPolicy="no-referrer"
        onError={() => setFailed(true)}
      />
    );
  }
  return (
    <div className="thumb thumb-placeholder" role="img" aria-label={alt}>
      <span aria-hidden="true">{audio ? '♪' : '▶'}</span>
    </div>
  );
}
