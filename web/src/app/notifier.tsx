/**
 * System notifications for finished and failed downloads, when the user
 * turned them on in settings and the browser allows them. Only while the
 * page is hidden: in view, the queue already shows it.
 */
import { useEffect } from 'react';
import { useI18n } from '../i18n/i18n';
import { usePreferences } from '../lib/preferences';
import { useLive } from './live';

export function CompletionNotifier() {
  const live = useLive();
  const { t } = useI18n();
  const { prefs } = usePreferences();
  const enabled = Boolean(prefs?.notifications_enabled);

  useEffect(() => {
    if (!enabled || !('Notification' in window)) return;
    return live.listen((e) => {
      if (Notification.permission !== 'granted' || document.visibilityState === 'visible') return;
      if (e.type === 'task_completed')
        new Notification(t('notify.completed'), { tag: e.task_id, icon: '/icons/icon-192.png' });
      else if (e.type === 'task_failed')
        new Notification(t('notify.failed'), { tag: e.task_id, body: e.error?.message, icon: '/icons/icon-192.png' });
    });
  }, [live, enabled, t]);
  return null;
}
