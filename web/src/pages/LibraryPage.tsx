/** Library: finished downloads to search, filter, play in the page, save to the device and delete. */
import { useId, useState } from 'react';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { DownloadLink } from '../components/DownloadLink';
import type { Task } from '../api/types';
import { navigate, useLocation } from '../app/router';
import { EmptyState, ErrorNotice, Loading } from '../components/feedback';
import { Player } from '../components/Player';
import { useRemovalNotice } from '../components/removal-notice';
import { PlatformBadge, Thumbnail, platformName } from '../components/task-bits';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { formatBytes, formatDate, formatDuration } from '../lib/format';
import { removeDownload } from '../lib/remove-download';
import { useTasks, type TaskQuery } from '../lib/use-tasks';

const PLATFORMS = ['youtube', 'bilibili', 'twitch', 'tiktok', 'generic'] as const;
const PERIODS = { any: Infinity, day: 1, week: 7, month: 31, year: 366 } as const;
type Period = keyof typeof PERIODS;
type Kind = 'all' | 'video' | 'audio';

export function LibraryPage() {
  const { t } = useI18n();
  const id = useId();
  const { search } = useLocation();
  const [text, setText] = useState('');
  const [platform, setPlatform] = useState<TaskQuery['platform'] | ''>('');
  const [period, setPeriod] = useState<Period>('any');
  const [kind, setKind] = useState<Kind>('all');
  const list = useTasks({ status: 'completed', ...(platform ? { platform } : {}) });
  const removal = useRemovalNotice();

  const playing = search.get('play');
  const playTask = playing ? list.items.find((task) => task.id === playing) : undefined;

  const needle = text.trim().toLowerCase();
  const now = Date.now();
  const shown = list.items.filter((task) => {
    if (kind === 'audio' && !task.audio_only) return false;
    if (kind === 'video' && task.audio_only) return false;
    const days = PERIODS[period];
    if (days !== Infinity && now - Date.parse(task.completed_at ?? task.created_at) > days * 86_400_000) return false;
    if (needle) {
      const title = task.title ?? '';
      if (!title.toLowerCase().includes(needle) && !task.url.toLowerCase().includes(needle)) return false;
    }
    return true;
  });

  return (
    <section className="page library">
      <h1 tabIndex={-1} ref={removal.heading}>
        {t('library.title')}
      </h1>
      {removal.status}
      {playTask && (
        <Player
          key={playTask.id}
          task={playTask}
          title={playTask.title ?? playTask.url}
          onClose={() => navigate('/library')}
        />
      )}
      <form className="filters-form" role="search" onSubmit={(e) => e.preventDefault()}>
        <div className="field grow">
          <label htmlFor={`${id}-q`}>{t('library.search')}</label>
          <input id={`${id}-q`} type="search" value={text} maxLength={200} onChange={(e) => setText(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-platform`}>{t('library.platform')}</label>
          <select
            id={`${id}-platform`}
            value={platform}
            onChange={(e) => setPlatform(e.target.value as TaskQuery['platform'] | '')}
          >
            <option value="">{t('library.all_platforms')}</option>
            {PLATFORMS.map((p) => (
              <option key={p} value={p}>
                {platformName(p)}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-period`}>{t('library.date')}</label>
          <select id={`${id}-period`} value={period} onChange={(e) => setPeriod(e.target.value as Period)}>
            {(Object.keys(PERIODS) as Period[]).map((p) => (
              <option key={p} value={p}>
                {t(`library.period_${p}` as MessageKey)}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-kind`}>{t('library.kind')}</label>
          <select id={`${id}-kind`} value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            <option value="all">{t('library.kind_all')}</option>
            <option value="video">{t('library.kind_video')}</option>
            <option value="audio">{t('library.kind_audio')}</option>
          </select>
        </div>
      </form>
      {list.error !== null && <ErrorNotice error={list.error} onRetry={list.reload} />}
      {list.loading && list.items.length === 0 && <Loading />}
      {!list.loading && list.error === null && shown.length === 0 && (
        <EmptyState title={t(list.items.length ? 'library.empty_filter' : 'library.empty')} />
      )}
      <ul className="library-grid">
        {shown.map((task) => (
          <LibraryItem
            key={task.id}
            task={task}
            onRemoved={() => {
              list.remove(task.id);
              if (playing === task.id) navigate('/library', { replace: true });
              removal.announce(t('library.deleted', { title: task.title ?? task.url }));
            }}
          />
        ))}
      </ul>
      {list.hasMore && (
        <button type="button" className="btn btn-secondary" disabled={list.loading} onClick={list.loadMore}>
          {t('common.load_more')}
        </button>
      )}
    </section>
  );
}

function LibraryItem({ task, onRemoved }: { task: Task; onRemoved: () => void }) {
  const { t, lang } = useI18n();
  const [confirming, setConfirming] = useState(false);
  const title = task.title ?? task.url;
  const fileUrl = task.file_url ?? `/api/v2/downloads/${task.id}/file`;

  return (
    <li className="card library-item" data-task-id={task.id}>
      <Thumbnail src={task.thumbnail_url} alt={t('home.thumbnail_of', { title })} audio={task.audio_only} />
      <div className="library-body">
        <h2 className="library-title" title={task.url}>
          {title}
        </h2>
        <p className="video-meta">
          <PlatformBadge platform={task.platform} />
          {task.duration != null && <span>{formatDuration(task.duration)}</span>}
          <span>{(task.format ?? '').toUpperCase()}</span>
          <span>{formatBytes(task.file_size, lang)}</span>
        </p>
        <p className="hint">{formatDate(task.completed_at, lang)}</p>
        <div className="task-actions">
          <button type="button" className="btn btn-primary" onClick={() => navigate(`/library?play=${task.id}`)}>
            {t('library.play')}
          </button>
          <DownloadLink className="btn btn-secondary" path={fileUrl}>
            {t('library.download_to_device')}
          </DownloadLink>
          <button
            type="button"
            className="btn btn-danger"
            aria-label={t('library.delete_named', { title })}
            onClick={() => setConfirming(true)}
          >
            {t('library.delete')}
          </button>
        </div>
      </div>
      {confirming && (
        <ConfirmDialog
          title={t('library.delete_title')}
          message={t('library.delete_message', { title })}
          confirmLabel={t('library.delete')}
          onConfirm={async () => {
            await removeDownload(task.id);
            onRemoved();
          }}
          onClose={() => setConfirming(false)}
        />
      )}
    </li>
  );
}
