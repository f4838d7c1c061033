/**
 * Home: a link box (type, paste, drop, or `?url=` / a share from a phone's
 * video app) → the video card or the playlist → download, with the new
 * downloads' progress right below.
 */
import { useCallback, useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { api, call } from '../api/client';
import { ApiError } from '../api/errors';
import type { Playlist, Task, VideoInfo } from '../api/types';
import { useLive } from '../app/live';
import { Link, useLocation } from '../app/router';
import { ErrorNotice, Loading } from '../components/feedback';
import { useRemovalNotice } from '../components/removal-notice';
import { PlaylistView } from '../components/PlaylistView';
import { TaskRow } from '../components/TaskRow';
import { VideoCard } from '../components/VideoCard';
import { useI18n } from '../i18n/i18n';
import { firstUrl } from '../lib/format';
import { useDefaultChoice } from '../lib/preferences';
import { applyToList } from '../lib/tasks';

type Lookup =
  | { phase: 'idle' }
  | { phase: 'loading'; url: string }
  | { phase: 'video'; url: string; info: VideoInfo }
  | { phase: 'playlist'; url: string; playlist: Playlist }
  | { phase: 'error'; url: string; error: unknown };

/** The API's answer for a playlist URL on the video endpoint. */
const isPlaylistRefusal = (err: unknown) =>
  err instanceof ApiError && err.code === 'unsupported_url' && /playlist/i.test(err.message);

export function HomePage() {
  const { t } = useI18n();
  const { search } = useLocation();
  const live = useLive();
  const defaults = useDefaultChoice();
  const [url, setUrl] = useState('');
  const [lookup, setLookup] = useState<Lookup>({ phase: 'idle' });
  const [recent, setRecent] = useState<Task[]>([]);
  const [dragging, setDragging] = useState(false);
  const asked = useRef(0);
  const removal = useRemovalNotice();

  const listAll = useCallback(async (target: string) => {
    const n = ++asked.current;
    setLookup({ phase: 'loading', url: target });
    try {
      const playlist = await call(api.GET('/api/v2/playlists/info', { params: { query: { url: target } } }));
      if (n === asked.current) setLookup({ phase: 'playlist', url: target, playlist });
    } catch (err) {
      if (n === asked.current) setLookup({ phase: 'error', url: target, error: err });
    }
  }, []);

  const look = useCallback(
    async (raw: string) => {
      const target = raw.trim();
      if (!target) {
        setLookup({ phase: 'error', url: '', error: new ApiError(400, 'invalid_url', t('home.enter_link')) });
        return;
      }
      const n = ++asked.current;
      setLookup({ phase: 'loading', url: target });
      try {
        const info = await call(api.GET('/api/v2/videos/info', { params: { query: { url: target } } }));
        if (n === asked.current) setLookup({ phase: 'video', url: target, info });
      } catch (err) {
        if (n !== asked.current) return;
        if (isPlaylistRefusal(err)) await listAll(target);
        else setLookup({ phase: 'error', url: target, error: err });
      }
    },
    [t, listAll],
  );

  // `?url=` in the address, or what a phone's share sheet sent (the link often hides in `text`).
  const shared = firstUrl(search.get('url'), search.get('text'), search.get('title'));
  useEffect(() => {
    if (shared) {
      setUrl(shared);
      void look(shared);
    }
  }, [shared, look]);

  useEffect(() => live.listen((e) => setRecent((prev) => applyToList(prev, e))), [live]);

  const queued = (tasks: Task[]) =>
    setRecent((prev) => [...tasks, ...prev.filter((p) => !tasks.some((task) => task.id === p.id))]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void look(url);
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const dropped = firstUrl(e.dataTransfer.getData('text/uri-list'), e.dataTransfer.getData('text/plain'));
    if (dropped) {
      setUrl(dropped);
      void look(dropped);
    }
  };

  return (
    <section className="page home">
      <h1 tabIndex={-1} ref={removal.heading}>
        {t('home.title')}
      </h1>
      {removal.status}
      <form
        className={`url-form${dragging ? ' dragging' : ''}`}
        onSubmit={submit}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <label htmlFor="url-input">{t('home.url_label')}</label>
        <div className="url-row">
          <input
            id="url-input"
            name="url"
            type="text"
            inputMode="url"
            autoComplete="off"
            spellCheck={false}
            placeholder="https://www.youtube.com/watch?v=…"
            value={url}
            maxLength={2048}
            onChange={(e) => setUrl(e.target.value)}
            onPaste={(e) => {
              // A pasted link into an empty box is looked up at once: paste is the whole gesture.
              const text = e.clipboardData.getData('text');
              const pasted = firstUrl(text);
              if (pasted && url.trim() === '') {
                e.preventDefault();
                setUrl(pasted);
                void look(pasted);
              }
            }}
            aria-describedby="url-hint"
          />
          <button type="submit" className="btn btn-primary" disabled={lookup.phase === 'loading'}>
            {t('home.look_up')}
          </button>
        </div>
        <p id="url-hint" className="hint">
          {t('home.url_hint')}
        </p>
      </form>

      <div aria-live="polite">
        {lookup.phase === 'loading' && <Loading label={t('home.looking_up')} />}
        {lookup.phase === 'error' && (
          <ErrorNotice
            title={t('home.lookup_failed')}
            error={lookup.error}
            onRetry={lookup.url ? () => void look(lookup.url) : undefined}
          />
        )}
      </div>
      {lookup.phase === 'video' && (
        <VideoCard
          key={lookup.url}
          info={lookup.info}
          sourceUrl={lookup.url}
          initialChoice={defaults}
          onQueued={(task) => queued([task])}
          onListAll={lookup.info.platform === 'generic' ? () => void listAll(lookup.url) : undefined}
        />
      )}
      {lookup.phase === 'playlist' && (
        <PlaylistView
          key={lookup.url}
          playlist={lookup.playlist}
          sourceUrl={lookup.url}
          initialChoice={defaults}
          onQueued={queued}
        />
      )}

      {recent.length > 0 && (
        <section className="recent" aria-labelledby="recent-title">
          <h2 id="recent-title">{t('home.just_added')}</h2>
          <ul className="tasks">
            {recent.map((task) => (
              <TaskRow
                key={task.id}
                task={task}
                onChange={(u) => setRecent((prev) => prev.map((p) => (p.id === u.id ? u : p)))}
                onRemoved={(gone) => {
                  setRecent((prev) => prev.filter((p) => p.id !== gone.id));
                  removal.announce(t('queue.removed', { title: gone.title ?? gone.url }));
                }}
              />
            ))}
          </ul>
          <Link to="/queue">{t('home.see_queue')}</Link>
        </section>
      )}
    </section>
  );
}
