/** Queue: every download with live progress, status, cancel, retry and remove. */
import { useState } from 'react';
import { useLive } from '../app/live';
import { Link } from '../app/router';
import { EmptyState, ErrorNotice, Loading } from '../components/feedback';
import { useRemovalNotice } from '../components/removal-notice';
import { TaskRow } from '../components/TaskRow';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { canRetry, isActive } from '../lib/tasks';
import { useTasks } from '../lib/use-tasks';
import type { Task } from '../api/types';

const FILTERS = {
  all: () => true,
  active: isActive,
  completed: (t: Task) => t.status === 'completed',
  problems: canRetry,
} as const;
type Filter = keyof typeof FILTERS;

export function QueuePage() {
  const { t } = useI18n();
  const live = useLive();
  const list = useTasks({});
  const [filter, setFilter] = useState<Filter>('all');
  const removal = useRemovalNotice();
  const shown = list.items.filter(FILTERS[filter]);

  return (
    <section className="page queue">
      <div className="page-head">
        <h1 tabIndex={-1} ref={removal.heading}>
          {t('queue.title')}
        </h1>
        <span className={`live-dot${live.connected ? ' on' : ''}`} role="status">
          {live.connected ? t('queue.live') : t('queue.reconnecting')}
        </span>
      </div>
      {removal.status}
      <div className="filters" role="group" aria-label={t('queue.filter')}>
        {(Object.keys(FILTERS) as Filter[]).map((f) => (
          <button
            key={f}
            type="button"
            className={`chip-button${filter === f ? ' selected' : ''}`}
            aria-pressed={filter === f}
            onClick={() => setFilter(f)}
          >
            {t(`queue.filter_${f}` as MessageKey)} ({list.items.filter(FILTERS[f]).length})
          </button>
        ))}
      </div>
      {list.error !== null && <ErrorNotice error={list.error} onRetry={list.reload} />}
      {list.loading && list.items.length === 0 && <Loading />}
      {!list.loading && list.error === null && shown.length === 0 && (
        <EmptyState title={t(list.items.length ? 'queue.empty_filter' : 'queue.empty')}>
          {list.items.length === 0 && <Link to="/">{t('queue.add_first')}</Link>}
        </EmptyState>
      )}
      <ul className="tasks">
        {shown.map((task) => (
          <TaskRow
            key={task.id}
            task={task}
            onChange={list.upsert}
            onRemoved={(gone) => {
              list.remove(gone.id);
              removal.announce(t('queue.removed', { title: gone.title ?? gone.url }));
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
