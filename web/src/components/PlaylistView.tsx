/** A playlist's entries with checkboxes: select all, or some, and queue them in one go. */
import { useState } from 'react';
import { api, call } from '../api/client';
import type { Playlist, Task } from '../api/types';
import { useI18n } from '../i18n/i18n';
import { formatDuration } from '../lib/format';
import { toOptions, type Choice } from '../lib/options';
import { ErrorNotice } from './feedback';
import { OptionsForm } from './OptionsForm';
import { PlatformBadge } from './task-bits';

/** POST /downloads/batch takes at most this many URLs. */
const BATCH = 50;

export function PlaylistView({
  playlist,
  sourceUrl,
  initialChoice,
  onQueued,
}: {
  playlist: Playlist;
  sourceUrl: string;
  initialChoice: Choice;
  onQueued: (tasks: Task[]) => void;
}) {
  const { t } = useI18n();
  const [entries, setEntries] = useState(playlist.entries);
  const [next, setNext] = useState(playlist.next_page ?? null);
  const [selected, setSelected] = useState<Set<string>>(() => new Set(playlist.entries.map((e) => e.url)));
  const [choice, setChoice] = useState(initialChoice);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [failures, setFailures] = useState<{ url: string; message: string }[]>([]);

  const allSelected = entries.length > 0 && entries.every((e) => selected.has(e.url));
  const toggle = (url: string) =>
    setSelected((prev) => {
      const s = new Set(prev);
      if (s.has(url)) s.delete(url);
      else s.add(url);
      return s;
    });

  const loadMore = async () => {
    if (!next) return;
    setBusy(true);
    try {
      const page = await call(api.GET('/api/v2/playlists/info', { params: { query: { url: sourceUrl, page: next } } }));
      setEntries((prev) => [...prev, ...page.entries]);
      setSelected((prev) => new Set([...prev, ...page.entries.map((e) => e.url)]));
      setNext(page.next_page ?? null);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const download = async () => {
    const urls = entries.map((e) => e.url).filter((u) => selected.has(u));
    setBusy(true);
    setError(null);
    setFailures([]);
    const queued: Task[] = [];
    const failed: { url: string; message: string }[] = [];
    try {
      for (let i = 0; i < urls.length; i += BATCH) {
        const res = await call(
          api.POST('/api/v2/downloads/batch', { body: { urls: urls.slice(i, i + BATCH), options: toOptions(choice) } }),
        );
        for (const item of res.items) {
          if (item.task) queued.push(item.task);
          else if (item.error) failed.push({ url: item.url, message: item.error.message });
        }
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
      setFailures(failed);
      if (queued.length) onQueued(queued);
    }
  };

  return (
    <article className="card playlist" aria-labelledby="playlist-title">
      <h2 id="playlist-title">{playlist.title ?? t('home.playlist')}</h2>
      <p className="video-meta">
        <PlatformBadge platform={playlist.platform} />
        {playlist.uploader && <span>{playlist.uploader}</span>}
        <span>{t('home.entries', { count: entries.length })}</span>
      </p>
      <OptionsForm choice={choice} onChange={setChoice} />
      <label className="toggle select-all">
        <input
          type="checkbox"
          checked={allSelected}
          onChange={() => setSelected(allSelected ? new Set() : new Set(entries.map((e) => e.url)))}
        />
        <span>{t('home.select_all')}</span>
      </label>
      <ol className="entries">
        {entries.map((e, i) => (
          <li key={`${e.url}-${i}`}>
            <label className="toggle">
              <input type="checkbox" checked={selected.has(e.url)} onChange={() => toggle(e.url)} />
              <span className="entry-title">{e.title ?? e.url}</span>
              <span className="entry-duration">{formatDuration(e.duration)}</span>
            </label>
          </li>
        ))}
      </ol>
      {next && (
        <button type="button" className="btn btn-secondary" disabled={busy} onClick={() => void loadMore()}>
          {t('common.load_more')}
        </button>
      )}
      <button
        type="button"
        className="btn btn-primary"
        disabled={busy || selected.size === 0}
        onClick={() => void download()}
      >
        {t('home.download_selected', { count: entries.filter((e) => selected.has(e.url)).length })}
      </button>
      {error !== null && <ErrorNotice error={error} />}
      {failures.length > 0 && (
        <div className="notice notice-error" role="alert">
          <p>{t('home.some_failed', { count: failures.length })}</p>
          <ul>
            {failures.map((f) => (
              <li key={f.url}>
                {f.url}: {f.message}
              </li>
            ))}
          </ul>
        </div>
      )}
    </article>
  );
}
