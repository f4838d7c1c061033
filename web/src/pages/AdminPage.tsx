/** Admin: system status, users (role, active, quota), and the audit log. */
import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { api, call } from '../api/client';
import type { paths, User } from '../api/types';
import { useUser } from '../app/auth';
import { EmptyState, ErrorNotice, Loading } from '../components/feedback';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { formatBytes, formatDate } from '../lib/format';
import { QuotaMeters } from './SettingsPage';

type AdminUser = paths['/api/v2/admin/users/{id}']['get']['responses'][200]['content']['application/json'];
type AuditEntry = paths['/api/v2/admin/audit']['get']['responses'][200]['content']['application/json']['items'][number];
type Role = User['role'];
type Invite = paths['/api/v2/admin/invites']['get']['responses'][200]['content']['application/json']['items'][number];
const ROLES: Role[] = ['admin', 'user', 'guest'];

function SystemStatus() {
  const { t, lang } = useI18n();
  const [info, setInfo] = useState<Awaited<ReturnType<typeof loadSystem>> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    try {
      setInfo(await loadSystem());
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, []);
  useEffect(() => void load(), [load]);

  return (
    <section className="card" aria-labelledby="system-title">
      <div className="page-head">
        <h2 id="system-title">{t('admin.system')}</h2>
        {/* Queue depth and storage change by the minute. */}
        <button type="button" className="btn btn-secondary" onClick={() => void load()}>
          {t('admin.refresh')}
        </button>
      </div>
      {error !== null && <ErrorNotice error={error} onRetry={() => void load()} />}
      {!info && error === null && <Loading />}
      {info && (
        <dl className="facts">
          <dt>{t('admin.version')}</dt>
          <dd>
            {info.version} ({info.role}, Node {info.node})
          </dd>
          <dt>{t('admin.database')}</dt>
          <dd>
            {info.backends.database} — {info.ready.database ?? '–'}
          </dd>
          <dt>{t('admin.cache')}</dt>
          <dd>
            {info.backends.cache} — {info.ready.cache ?? '–'}
          </dd>
          <dt>{t('admin.queue')}</dt>
          {/* The queue follows REDIS_URL, as the cache does (app/services.ts). */}
          <dd>{info.backends.cache === 'redis' ? 'BullMQ (Redis)' : t('admin.in_process')}</dd>
          <dt>yt-dlp</dt>
          <dd>{info.tools.ytdlp}</dd>
          <dt>ffmpeg</dt>
          <dd>{info.tools.ffmpeg}</dd>
          {info.queue && (
            <>
              <dt>{t('admin.queue_depth')}</dt>
              <dd data-testid="queue-depth">{t('admin.queue_depth_value', info.queue)}</dd>
            </>
          )}
          {info.storage && (
            <>
              <dt>{t('admin.storage_used')}</dt>
              <dd data-testid="storage-used">
                {t('admin.storage_used_value', {
                  size: formatBytes(info.storage.used_bytes, lang),
                  files: info.storage.files,
                  backend: info.storage.backend === 's3' ? 'S3' : t('admin.storage_local'),
                })}
              </dd>
            </>
          )}
        </dl>
      )}
    </section>
  );
}

async function loadSystem() {
  const [info, ready] = await Promise.all([
    call(api.GET('/api/v2/system/info')),
    // 503 carries the failing checks in its details; either way we show each check's answer.
    api.GET('/api/v2/system/ready').then(
      (r) =>
        r.data?.checks ??
        (r.error as { error?: { details?: { checks?: Record<string, string> } } } | undefined)?.error?.details
          ?.checks ??
        {},
      () => ({}) as Record<string, string>,
    ),
  ]);
  return { ...info, ready };
}

function QuotaEditor({ user, onSaved }: { user: AdminUser; onSaved: (u: AdminUser) => void }) {
  const { t } = useI18n();
  const id = useId();
  const fields = ['daily_limit', 'monthly_limit', 'storage_limit_bytes', 'concurrent_limit'] as const;
  const [draft, setDraft] = useState<Record<(typeof fields)[number], string>>(() => ({
    daily_limit: user.quota_overrides.daily_limit?.toString() ?? '',
    monthly_limit: user.quota_overrides.monthly_limit?.toString() ?? '',
    storage_limit_bytes: user.quota_overrides.storage_limit_bytes?.toString() ?? '',
    concurrent_limit: user.quota_overrides.concurrent_limit?.toString() ?? '',
  }));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = Object.fromEntries(fields.map((f) => [f, draft[f].trim() === '' ? null : Number(draft[f])]));
      onSaved(await call(api.PUT('/api/v2/admin/users/{id}/quota', { params: { path: { id: user.id } }, body })));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="quota-editor" onSubmit={(e) => void submit(e)}>
      <QuotaMeters quota={user.quota} />
      <p className="hint">{t('admin.quota_hint')}</p>
      <div className="filters-form">
        {fields.map((f) => (
          <div className="field" key={f}>
            <label htmlFor={`${id}-${f}`}>{t(`admin.${f}` as MessageKey)}</label>
            <input
              id={`${id}-${f}`}
              type="number"
              min={0}
              step={1}
              inputMode="numeric"
              value={draft[f]}
              placeholder={t('admin.role_default')}
              onChange={(e) => setDraft((d) => ({ ...d, [f]: e.target.value }))}
            />
          </div>
        ))}
      </div>
      <button type="submit" className="btn btn-primary" disabled={busy}>
        {t('admin.save_quota')}
      </button>
      {error !== null && <ErrorNotice error={error} />}
    </form>
  );
}

function UserRow({ user, me }: { user: User; me: string }) {
  const { t, lang } = useI18n();
  const [current, setCurrent] = useState<User>(user);
  const [detail, setDetail] = useState<AdminUser | null>(null);
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const id = useId();

  const latest = useRef(0);
  const patch = async (body: { role?: Role; is_active?: boolean }) => {
    setError(null);
    const before = current;
    const mine = ++latest.current;
    // Shown at once; put back if the server refuses. An answer to an older change never
    // overwrites a newer one still on its way.
    setCurrent({ ...current, ...body });
    try {
      const u = await call(api.PATCH('/api/v2/admin/users/{id}', { params: { path: { id: user.id } }, body }));
      if (mine !== latest.current) return;
      setCurrent(u);
      setDetail(u);
    } catch (err) {
      if (mine === latest.current) setCurrent(before);
      setError(err);
    }
  };
  const toggleQuota = async () => {
    setOpen((o) => !o);
    if (!detail) {
      try {
        setDetail(await call(api.GET('/api/v2/admin/users/{id}', { params: { path: { id: user.id } } })));
      } catch (err) {
        setError(err);
      }
    }
  };

  return (
    <li className="row user-row" data-user={current.username}>
      <span>
        <strong>{current.username}</strong> <span className="hint">{current.email}</span>
        {current.id === me && <span className="badge badge-you">{t('admin.you')}</span>}
      </span>
      <span className="hint">
        {current.last_login_at
          ? t('admin.last_login', { date: formatDate(current.last_login_at, lang) })
          : t('admin.never_logged_in')}
      </span>
      <label htmlFor={`${id}-role`} className="visually-hidden">
        {t('admin.role_of', { name: current.username })}
      </label>
      <select id={`${id}-role`} value={current.role} onChange={(e) => void patch({ role: e.target.value as Role })}>
        {ROLES.map((r) => (
          <option key={r} value={r}>
            {t(`role.${r}` as MessageKey)}
          </option>
        ))}
      </select>
      <label className="toggle">
        <input
          type="checkbox"
          checked={current.is_active}
          onChange={(e) => void patch({ is_active: e.target.checked })}
        />
        <span>{t('admin.active')}</span>
      </label>
      <button type="button" className="btn btn-secondary" aria-expanded={open} onClick={() => void toggleQuota()}>
        {t('admin.quota')}
      </button>
      {error !== null && <ErrorNotice error={error} />}
      {open && (detail ? <QuotaEditor user={detail} onSaved={setDetail} /> : error === null && <Loading />)}
    </li>
  );
}

function Users() {
  const { t } = useI18n();
  const me = useUser();
  const [q, setQ] = useState('');
  const [query, setQuery] = useState('');
  const [users, setUsers] = useState<User[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async (search: string, after: string | null) => {
    try {
      const page = await call(
        api.GET('/api/v2/admin/users', {
          params: { query: { limit: 50, ...(search ? { q: search } : {}), ...(after ? { cursor: after } : {}) } },
        }),
      );
      setUsers((prev) => (after && prev ? [...prev, ...page.items] : page.items));
      setCursor(page.next_cursor);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, []);
  useEffect(() => void load(query, null), [load, query]);

  return (
    <section className="card" aria-labelledby="users-title">
      <h2 id="users-title">{t('admin.users')}</h2>
      <form
        className="filters-form"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery(q.trim());
        }}
      >
        <div className="field grow">
          <label htmlFor="user-search">{t('admin.find_user')}</label>
          <input id="user-search" type="search" maxLength={254} value={q} onChange={(e) => setQ(e.target.value)} />
        </div>
        <div className="field">
          <button type="submit" className="btn btn-secondary">
            {t('library.search')}
          </button>
        </div>
      </form>
      {error !== null && <ErrorNotice error={error} onRetry={() => void load(query, null)} />}
      {users === null && error === null && <Loading />}
      {users?.length === 0 && <EmptyState title={t('admin.no_users')} />}
      {users && users.length > 0 && (
        <ul className="rows">
          {users.map((u) => (
            <UserRow key={u.id} user={u} me={me.id} />
          ))}
        </ul>
      )}
      {cursor && (
        <button type="button" className="btn btn-secondary" onClick={() => void load(query, cursor)}>
          {t('common.load_more')}
        </button>
      )}
    </section>
  );
}

function Invites() {
  const { t, lang } = useI18n();
  const id = useId();
  const [role, setRole] = useState<Role>('user');
  const [items, setItems] = useState<Invite[] | null>(null);
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const load = useCallback(async () => {
    try {
      setItems((await call(api.GET('/api/v2/admin/invites'))).items);
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
      const invite = await call(api.POST('/api/v2/admin/invites', { body: { role } }));
      setCreated(`${window.location.origin}/register?invite=${encodeURIComponent(invite.code)}`);
      await load();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="invites-title">
      <h2 id="invites-title">{t('admin.invites')}</h2>
      <form className="filters-form" onSubmit={(e) => void create(e)}>
        <div className="field">
          <label htmlFor={`${id}-role`}>{t('admin.invite_role')}</label>
          <select id={`${id}-role`} value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {t(`role.${r}` as MessageKey)}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {t('admin.create_invite')}
          </button>
        </div>
      </form>
      {created && (
        <div className="notice notice-ok" role="status">
          <p>{t('admin.invite_shown_once')}</p>
          <code className="secret" data-testid="invite-link">
            {created}
          </code>
        </div>
      )}
      {error !== null && <ErrorNotice error={error} onRetry={() => void load()} />}
      {items === null && error === null && <Loading />}
      {items?.length === 0 && <EmptyState title={t('admin.no_invites')} />}
      {items && items.length > 0 && (
        <ul className="rows">
          {items.map((i) => (
            <li key={i.id} className="row">
              <span>{t(`role.${i.role}` as MessageKey)}</span>
              <span className="chip">{t(`admin.invite_${i.status}` as MessageKey)}</span>
              <span className="hint">
                {t('keys.created_at', { date: formatDate(i.created_at, lang) })}
                {i.expires_at ? ` · ${t('admin.expires', { date: formatDate(i.expires_at, lang) })}` : ''}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function AuditLog() {
  const { t, lang } = useI18n();
  const [items, setItems] = useState<AuditEntry[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async (after: string | null) => {
    try {
      const page = await call(
        api.GET('/api/v2/admin/audit', { params: { query: { limit: 50, ...(after ? { cursor: after } : {}) } } }),
      );
      setItems((prev) => (after && prev ? [...prev, ...page.items] : page.items));
      setCursor(page.next_cursor);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, []);
  useEffect(() => void load(null), [load]);

  return (
    <section className="card" aria-labelledby="audit-title">
      <h2 id="audit-title">{t('admin.audit')}</h2>
      {error !== null && <ErrorNotice error={error} onRetry={() => void load(null)} />}
      {items === null && error === null && <Loading />}
      {items?.length === 0 && <EmptyState title={t('admin.no_audit')} />}
      {items && items.length > 0 && (
        <div className="table-scroll" tabIndex={0} role="region" aria-labelledby="audit-title">
          <table className="audit">
            <thead>
              <tr>
                <th scope="col">{t('admin.when')}</th>
                <th scope="col">{t('admin.who')}</th>
                <th scope="col">{t('admin.action')}</th>
                <th scope="col">{t('admin.target')}</th>
                <th scope="col">IP</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.id}>
                  <td>{formatDate(e.created_at, lang)}</td>
                  <td>{e.actor_username ?? '–'}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>{e.target_type ? `${e.target_type} ${e.target_id ?? ''}` : '–'}</td>
                  <td>{e.ip ?? '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button type="button" className="btn btn-secondary" onClick={() => void load(cursor)}>
          {t('common.load_more')}
        </button>
      )}
    </section>
  );
}

export function AdminPage() {
  const { t } = useI18n();
  return (
    <section className="page admin">
      <h1 tabIndex={-1}>{t('admin.title')}</h1>
      <SystemStatus />
      <Users />
      <Invites />
      <AuditLog />
    </section>
  );
}
