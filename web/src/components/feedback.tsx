/** Loading, empty and error states: every view shows one of these rather than nothing. */
import type { ReactNode } from 'react';
import { errorInfo } from '../api/errors';
import { useI18n, type MessageKey } from '../i18n/i18n';

export function Loading({ label }: { label?: string }) {
  const { t } = useI18n();
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label ?? t('common.loading')}</span>
    </div>
  );
}

/** Error codes with a sentence of their own; the server's message follows it. */
const KNOWN_CODES = new Set([
  'network_error',
  'invalid_url',
  'unsupported_url',
  'not_found',
  'private',
  'removed',
  'age_restricted',
  'login_required',
  'region_blocked',
  'rate_limited',
  'upstream_error',
  'upstream_timeout',
  'unauthorized',
  'forbidden',
  'validation_failed',
  'conflict',
  'quota_exceeded',
  'storage_error',
]);

export function ErrorNotice({ error, onRetry, title }: { error: unknown; onRetry?: () => void; title?: string }) {
  const { t } = useI18n();
  const { code, message } = errorInfo(error);
  const summary = KNOWN_CODES.has(code) ? t(`error.${code}` as MessageKey) : null;
  return (
    <div className="notice notice-error" role="alert">
      {title && <strong className="notice-title">{title}</strong>}
      {summary && <p className="notice-summary">{summary}</p>}
      <p className="notice-message">{message}</p>
      {onRetry && (
        <button type="button" className="btn btn-secondary" onClick={onRetry}>
          {t('common.try_again')}
        </button>
      )}
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children}
    </div>
  );
}
