/** The user's API keys: create (the secret is shown once), list, revoke. */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, call } from '../api/client';
import type { ApiKey } from '../api/types';
import { useUser } from '../app/auth';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { formatDate } from '../lib/format';
import { EmptyState, ErrorNotice, Loading } from './feedback';
import { Field } from './Field';

type Scope = 'read' | 'download' | 'admin';

export function ApiKeys() {
  const { t, lang } = useI18n();
  const user = useUser();
  const allowed: Scope[] =
    user.role === 'admin' ? ['read', 'download', 'admin'] : user.role === 'user' ? ['read', 'download'] : ['read'];
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['read']);
  const [created, setCreated] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [copied, setCopied] = useState(false);

  const load = useCallback(async () => {
    try {
      setKeys((await call(api.GET('/api/v2/users/me/api-keys'))).items);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, []);
  useEffect(() => void load(), [load]);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const key = await call(api.POST('/api/v2/users/me/api-keys', { body: { name, scopes } }));
      setCreated(key.key);
      setCopied(false);
      setName('');
      await load();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (id: string) => {
    setError(null);
    try {
      await call(api.DELETE('/api/v2/users/me/api-keys/{id}', { params: { path: { id } } }));
      await load();
    } catch (err) {
      setError(err);
    }
  };

  const active = (keys ?? []).filter((k) => !k.revoked_at);
  return (
    <section className="card" aria-labelledby="keys-title">
      <h2 id="keys-title">{t('keys.title')}</h2>
      <p className="hint">{t('keys.intro')}</p>
      <form className="form" onSubmit={(e) => void create(e)}>
        <Field label={t('keys.name')} required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        <fieldset className="options">
          <legend>{t('keys.scopes')}</legend>
          {allowed.map((s) => (
            <label key={s} className="toggle">
              <input
                type="checkbox"
                checked={scopes.includes(s)}
                onChange={(e) => setScopes((p) => (e.target.checked ? [...p, s] : p.filter((x) => x !== s)))}
              />
              <span>{t(`keys.scope_${s}` as MessageKey)}</span>
            </label>
          ))}
        </fieldset>
        <button type="submit" className="btn btn-primary" disabled={busy || scopes.length === 0 || !name.trim()}>
          {t('keys.create')}
        </button>
      </form>
      {created && (
        <div className="notice notice-ok" role="status">
          <p>{t('keys.shown_once')}</p>
          <code className="secret" data-testid="new-api-key">
            {created}
          </code>
          <button
            type="button"
            className="btn btn-secondary"
            onClick={() => void navigator.clipboard?.writeText(created).then(() => setCopied(true))}
          >
            {copied ? t('keys.copied') : t('keys.copy')}
          </button>
        </div>
      )}
      {error !== null && <ErrorNotice error={error} />}
      {keys === null && error === null && <Loading />}
      {keys !== null && active.length === 0 && <EmptyState title={t('keys.none')} />}
      {active.length > 0 && (
        <ul className="rows">
          {active.map((k) => (
            <li key={k.id} className="row">
              <span>
                <strong>{k.name}</strong> <code>ytbh_{k.prefix}_…</code>
              </span>
              <span className="hint">
                {k.scopes.join(', ')} · {t('keys.created_at', { date: formatDate(k.created_at, lang) })} ·{' '}
                {k.last_used_at
                  ? t('keys.last_used', { date: formatDate(k.last_used_at, lang) })
                  : t('keys.never_used')}
              </span>
              <button type="button" className="btn btn-danger" onClick={() => void revoke(k.id)}>
                {t('keys.revoke')}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
