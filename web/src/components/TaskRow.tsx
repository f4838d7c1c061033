/**
 * One download in a list: title, status, live progress, and what can be done
 * with it now: cancel while active; retry when failed or cancelled; remove
 * (with its files, after a confirm dialog) once finished.
 */
import { useState } from 'react';
import { api, call } from '../api/client';
import type { Task } from '../api/types';
import { useI18n } from '../i18n/i18n';
import { Link } from '../app/router';
import { formatBytes, formatDuration, formatPercent, formatSpeed } from '../lib/format';
import { removeDownload } from '../lib/remove-download';
import { canRetry, isActive } from '../lib/tasks';
import { ConfirmDialog } from './ConfirmDialog';
import { ErrorNotice } from './feedback';
import { PlatformBadge, ProgressBar, StatusChip } from './task-bits';

interface Props {
  task: Task;
  /** The task as an action left it. */
  onChange: (t: Task) => void;
  /** The task is gone from the server. */
  onRemoved: (t: Task) => void;
}

export function TaskRow({ task, onChange, onRemoved }: Props) {
  const { t, lang } = useI18n();
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [actionError, setActionError] = useState<unknown>(null);
  const title = task.title ?? task.url;
  const active = isActive(task);

  const act = async (kind: 'cancel' | 'retry') => {
    setBusy(true);
    setActionError(null);
    try {
      const params = { params: { path: { id: task.id } } };
      // POST …/cancel never removes: a download that finished meanwhile answers 409, shown in words.
      const after =
        kind === 'cancel'
          ? await call(api.POST('/api/v2/downloads/{id}/cancel', params))
          : await call(api.POST('/api/v2/downloads/{id}/retry', params));
      onChange(after);
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(false);
    }
  };

  const details: string[] = [];
  if (active && task.status === 'downloading') {
    details.push(formatPercent(task.progress));
    if (task.speed_bps) details.push(formatSpeed(task.speed_bps, lang));
    if (task.eta_seconds !== null) details.push(t('queue.eta', { eta: formatDuration(task.eta_seconds) }));
  }
  if (task.bytes_total) {
    details.push(
      t('queue.bytes', { done: formatBytes(task.bytes_done, lang), total: formatBytes(task.bytes_total, lang) }),
    );
  } else if (task.status === 'completed' && task.file_size) {
    details.push(formatBytes(task.file_size, lang));
  }
  const optionsText = [
    task.audio_only ? t('home.audio_only') : task.quality === 'best' ? t('quality.best') : `${task.quality}p`,
    task.format,
  ]
    .filter(Boolean)
    .join(' · ');

  return (
    <li className="task" data-task-id={task.id} data-status={task.status}>
      <div className="task-head">
        <span className="task-title" title={task.url}>
          {title}
        </span>
        <StatusChip status={task.status} />
      </div>
      <div className="task-meta">
        <PlatformBadge platform={task.platform} />
        <span>{optionsText}</span>
      </div>
      {(active || task.status === 'completed') && (
        <ProgressBar
          value={task.status === 'completed' ? 100 : task.progress}
          label={t('queue.progress_of', { title })}
        />
      )}
      {details.length > 0 && <p className="task-details">{details.join(' · ')}</p>}
      {task.status === 'failed' && task.error && (
        <p className="task-error" role="note">
          {t('queue.failed_because', { message: task.error.message })}
        </p>
      )}
      <div className="task-actions">
        {active && (
          <button type="button" className="btn btn-secondary" disabled={busy} onClick={() => void act('cancel')}>
            {t('queue.cancel')}
          </button>
        )}
        {canRetry(task) && (
          <button type="button" className="btn btn-secondary" disabled={busy} onClick={() => void act('retry')}>
            {t('queue.retry')}
          </button>
        )}
        {task.status === 'completed' && (
          <Link className="btn btn-secondary" to={`/library?play=${task.id}`}>
            {t('queue.play')}
          </Link>
        )}
        {!active && (
          <button
            type="button"
            className="btn btn-secondary"
            disabled={busy}
            aria-label={t('queue.remove_named', { title })}
            onClick={() => setConfirming(true)}
          >
            {t('queue.remove')}
          </button>
        )}
      </div>
      {actionError !== null && <ErrorNotice error={actionError} />}
      {confirming && (
        <ConfirmDialog
          title={t('queue.remove_title')}
          message={t(task.status === 'completed' ? 'queue.remove_message_completed' : 'queue.remove_message', {
            title,
          })}
          confirmLabel={t('queue.remove')}
          onConfirm={async () => {
            await removeDownload(task.id);
            onRemoved(task);
          }}
          onClose={() => setConfirming(false)}
        />
      )}
    </li>
  );
}
