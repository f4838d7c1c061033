/** Settings: appearance and language, download defaults and notifications, quota, API keys, password. */
import { useEffect, useId, useState, type FormEvent } from 'react';
import { api, call } from '../api/client';
import type { Schemas } from '../api/types';
import { applyTheme, savedTheme, THEMES, type Theme } from '../app/theme';
import { ApiKeys } from '../components/ApiKeys';
import { ErrorNotice, Loading } from '../components/feedback';
import { Field } from '../components/Field';
import { LANG_NAMES, LANGS, useI18n, type Lang, type MessageKey } from '../i18n/i18n';
import { formatBytes, formatDate } from '../lib/format';
import { AUDIO_CONTAINERS, CODECS, QUALITIES, VIDEO_CONTAINERS } from '../lib/options';
import { usePreferences, type Preferences, type PreferencesPatch } from '../lib/preferences';

/** Saving state of a form: what the button and the status line say. */
function useSave() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    setDone(false);
    try {
      await fn();
      setDone(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, done, run };
}

function Appearance() {
  const { t, lang, setLang } = useI18n();
  const { save } = usePreferences();
  const [error, setError] = useState<unknown>(null);
  // What this browser shows (it may differ from the account's until changed here).
  const [theme, setTheme] = useState<Theme>(savedTheme);
  const change = (patch: PreferencesPatch) => {
    setError(null);
    if (patch.theme) {
      setTheme(patch.theme);
      applyTheme(patch.theme);
    }
    if (patch.language) setLang(patch.language);
    save(patch).catch((err: unknown) => setError(err));
  };
  return (
    <section className="card" aria-labelledby="appearance-title">
      <h2 id="appearance-title">{t('settings.appearance')}</h2>
      <fieldset className="options">
        <legend>{t('settings.theme')}</legend>
        {THEMES.map((th) => (
          <label key={th} className="toggle">
            <input type="radio" name="theme" value={th} checked={theme === th} onChange={() => change({ theme: th })} />
            <span>{t(`settings.theme_${th}` as MessageKey)}</span>
          </label>
        ))}
      </fieldset>
      <fieldset className="options">
        <legend>{t('settings.language')}</legend>
        {LANGS.map((l) => (
          <label key={l} className="toggle">
            <input
              type="radio"
              name="language"
              value={l}
              checked={lang === l}
              onChange={() => change({ language: l as Lang })}
            />
            <span lang={l}>{LANG_NAMES[l]}</span>
          </label>
        ))}
      </fieldset>
      {error !== null && <ErrorNotice error={error} />}
    </section>
  );
}

function DownloadDefaults({ prefs }: { prefs: Preferences }) {
  const { t } = useI18n();
  const { save } = usePreferences();
  const id = useId();
  const [draft, setDraft] = useState({
    default_quality: prefs.default_quality,
    default_format: prefs.default_format,
    default_audio_format: prefs.default_audio_format,
    video_codec: prefs.video_codec,
    audio_language: prefs.audio_language ?? '',
    notifications_enabled: prefs.notifications_enabled,
    webhook_url: prefs.webhook_url ?? '',
  });
  const { busy, error, done, run } = useSave();
  const set = <K extends keyof typeof draft>(k: K, v: (typeof draft)[K]) => setDraft((d) => ({ ...d, [k]: v }));

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      if (draft.notifications_enabled && 'Notification' in window && Notification.permission === 'default') {
        await Notification.requestPermission();
      }
      await save({
        default_quality: draft.default_quality,
        default_format: draft.default_format,
        default_audio_format: draft.default_audio_format,
        video_codec: draft.video_codec,
        audio_language: draft.audio_language.trim() || null,
        notifications_enabled: draft.notifications_enabled,
        webhook_url: draft.webhook_url.trim() || null,
      });
    });
  };

  const select = <K extends 'default_quality' | 'default_format' | 'default_audio_format' | 'video_codec'>(
    key: K,
    label: string,
    values: readonly (typeof draft)[K][],
    name: (v: (typeof draft)[K]) => string,
  ) => (
    <div className="field">
      <label htmlFor={`${id}-${key}`}>{label}</label>
      <select id={`${id}-${key}`} value={draft[key]} onChange={(e) => set(key, e.target.value as (typeof draft)[K])}>
        {values.map((v) => (
          <option key={v} value={v}>
            {name(v)}
          </option>
        ))}
      </select>
    </div>
  );

  return (
    <section className="card" aria-labelledby="defaults-title">
      <h2 id="defaults-title">{t('settings.defaults')}</h2>
      <form className="form" onSubmit={submit}>
        {select('default_quality', t('home.quality'), QUALITIES, (q) =>
          q === 'best' ? t('quality.best') : q === 'worst' ? t('quality.worst') : `${q}p`,
        )}
        {select('default_format', t('settings.video_format'), VIDEO_CONTAINERS, (c) => c.toUpperCase())}
        {select('default_audio_format', t('settings.audio_format'), AUDIO_CONTAINERS, (c) => c.toUpperCase())}
        {select('video_codec', t('home.codec'), CODECS, (c) => (c === 'any' ? t('home.codec_any') : c.toUpperCase()))}
        <Field
          label={t('home.audio_language')}
          hint={t('settings.audio_language_hint')}
          maxLength={35}
          pattern="[A-Za-z]{1,8}([\-_][A-Za-z0-9]{1,8})*"
          value={draft.audio_language}
          onChange={(e) => set('audio_language', e.target.value)}
        />
        <label className="toggle">
          <input
            type="checkbox"
            checked={draft.notifications_enabled}
            onChange={(e) => set('notifications_enabled', e.target.checked)}
          />
          <span>{t('settings.notifications')}</span>
        </label>
        <Field
          label={t('settings.webhook')}
          hint={t('settings.webhook_hint')}
          type="url"
          maxLength={2048}
          value={draft.webhook_url}
          onChange={(e) => set('webhook_url', e.target.value)}
        />
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {t('common.save')}
        </button>
        <p role="status" className="hint">
          {done ? t('common.saved') : ''}
        </p>
        {error !== null && <ErrorNotice error={error} />}
      </form>
    </section>
  );
}

function Password() {
  const { t } = useI18n();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const { busy, error, done, run } = useSave();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await call(api.POST('/api/v2/users/me/password', { body: { current_password: current, new_password: next } }));
      setCurrent('');
      setNext('');
    });
  };
  return (
    <section className="card" aria-labelledby="password-title">
      <h2 id="password-title">{t('settings.password')}</h2>
      <form className="form" onSubmit={submit}>
        <Field
          label={t('settings.current_password')}
          type="password"
          autoComplete="current-password"
          required
          maxLength={256}
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
        />
        <Field
          label={t('settings.new_password')}
          hint={t('auth.password_hint', { min: 8 })}
          type="password"
          autoComplete="new-password"
          required
          minLength={8}
          maxLength={256}
          value={next}
          onChange={(e) => setNext(e.target.value)}
        />
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {t('settings.change_password')}
        </button>
        <p role="status" className="hint">
          {done ? t('settings.password_changed') : ''}
        </p>
        {error !== null && <ErrorNotice error={error} />}
      </form>
    </section>
  );
}

type Quota = Schemas['Quota'];

export function QuotaMeters({ quota }: { quota: Quota }) {
  const { t, lang } = useI18n();
  const id = useId();
  const rows = [
    {
      key: 'daily',
      label: t('quota.daily'),
      used: quota.daily.used,
      limit: quota.daily.limit,
      text: String,
      resets: quota.daily.resets_at,
    },
    {
      key: 'monthly',
      label: t('quota.monthly'),
      used: quota.monthly.used,
      limit: quota.monthly.limit,
      text: String,
      resets: quota.monthly.resets_at,
    },
    {
      key: 'storage',
      label: t('quota.storage'),
      used: quota.storage.used,
      limit: quota.storage.limit,
      text: (n: number) => formatBytes(n, lang),
      resets: null,
    },
    {
      key: 'concurrent',
      label: t('quota.concurrent'),
      used: quota.active_tasks,
      limit: quota.concurrent.limit,
      text: String,
      resets: null,
    },
  ];
  return (
    <div>
      {rows.map((r) => (
        <div key={r.key} className="meter" data-quota={r.key}>
          <div className="meter-label">
            <label htmlFor={`${id}-${r.key}`}>{r.label}</label>
            <span>{t('quota.used_of', { used: r.text(r.used), limit: r.text(r.limit) })}</span>
          </div>
          <meter id={`${id}-${r.key}`} min={0} max={Math.max(r.limit, 1)} value={r.used} high={r.limit * 0.9} />
          {r.resets && <p className="hint">{t('quota.resets', { date: formatDate(r.resets, lang) })}</p>}
        </div>
      ))}
    </div>
  );
}

function QuotaCard() {
  const { t } = useI18n();
  const [quota, setQuota] = useState<Quota | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = () =>
    call(api.GET('/api/v2/users/me/quota')).then(
      (q) => {
        setQuota(q);
        setError(null);
      },
      (err: unknown) => setError(err),
    );
  useEffect(() => void load(), []);
  return (
    <section className="card" aria-labelledby="quota-title">
      <h2 id="quota-title">{t('quota.title')}</h2>
      {error !== null && <ErrorNotice error={error} onRetry={() => void load()} />}
      {!quota && error === null && <Loading />}
      {quota && <QuotaMeters quota={quota} />}
    </section>
  );
}

export function SettingsPage() {
  const { t } = useI18n();
  const { prefs, error, reload } = usePreferences();
  return (
    <section className="page settings">
      <h1 tabIndex={-1}>{t('settings.title')}</h1>
      <Appearance />
      {error !== null && <ErrorNotice error={error} onRetry={reload} />}
      {!prefs && error === null && <Loading />}
      {prefs && <DownloadDefaults prefs={prefs} />}
      <QuotaCard />
      <ApiKeys />
      <Password />
    </section>
  );
}
