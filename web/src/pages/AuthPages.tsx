/** First run (create the admin), sign in, and sign up. */
import { useState, type FormEvent } from 'react';
import { useAuth } from '../app/auth';
import { Link, navigate, useLocation } from '../app/router';
import { ErrorNotice } from '../components/feedback';
import { Field } from '../components/Field';
import { useI18n } from '../i18n/i18n';

/** Where to go after signing in: the page the user was sent away from, if it is one of ours. */
function nextPage(search: URLSearchParams): string {
  const next = search.get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

function useSubmit(action: () => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, submit };
}

/** The API's minimum (src/accounts/passwords.ts); the server checks it again. */
const MIN_PASSWORD = 8;

function AccountFields({
  values,
  set,
  withInvite,
}: {
  values: Record<string, string>;
  set: (k: string, v: string) => void;
  withInvite?: boolean;
}) {
  const { t } = useI18n();
  return (
    <>
      <Field
        label={t('auth.username')}
        hint={t('auth.username_hint')}
        name="username"
        autoComplete="username"
        required
        minLength={3}
        maxLength={32}
        pattern="[A-Za-z0-9_.\-]+"
        value={values.username ?? ''}
        onChange={(e) => set('username', e.target.value)}
      />
      <Field
        label={t('auth.email')}
        name="email"
        type="email"
        autoComplete="email"
        required
        maxLength={254}
        value={values.email ?? ''}
        onChange={(e) => set('email', e.target.value)}
      />
      <Field
        label={t('auth.password')}
        hint={t('auth.password_hint', { min: MIN_PASSWORD })}
        name="password"
        type="password"
        autoComplete="new-password"
        required
        minLength={MIN_PASSWORD}
        maxLength={256}
        value={values.password ?? ''}
        onChange={(e) => set('password', e.target.value)}
      />
      {withInvite && (
        <Field
          label={t('auth.invite_code')}
          name="invite_code"
          required
          maxLength={100}
          value={values.invite_code ?? ''}
          onChange={(e) => set('invite_code', e.target.value)}
        />
      )}
    </>
  );
}

function useValues(initial: Record<string, string> = {}) {
  const [values, setValues] = useState<Record<string, string>>(initial);
  return { values, set: (k: string, v: string) => setValues((p) => ({ ...p, [k]: v })) };
}

export function SetupPage() {
  const { t } = useI18n();
  const { register } = useAuth();
  const { values, set } = useValues();
  const { busy, error, submit } = useSubmit(async () => {
    await register({ username: values.username ?? '', email: values.email ?? '', password: values.password ?? '' });
    navigate('/', { replace: true });
  });
  return (
    <section className="page auth">
      <h1 tabIndex={-1}>{t('setup.title')}</h1>
      <p>{t('setup.intro')}</p>
      <form className="card form" onSubmit={(e) => void submit(e)}>
        <AccountFields values={values} set={set} />
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {t('setup.create_admin')}
        </button>
        {error !== null && <ErrorNotice error={error} />}
      </form>
    </section>
  );
}

export function LoginPage() {
  const { t } = useI18n();
  const { login, state } = useAuth();
  const { search } = useLocation();
  const { values, set } = useValues();
  const { busy, error, submit } = useSubmit(async () => {
    await login(values.login ?? '', values.password ?? '');
    navigate(nextPage(search), { replace: true });
  });
  const canRegister = state.phase === 'ready' && state.registration !== 'closed';
  return (
    <section className="page auth">
      <h1 tabIndex={-1}>{t('login.title')}</h1>
      <form className="card form" onSubmit={(e) => void submit(e)}>
        <Field
          label={t('login.login')}
          name="login"
          autoComplete="username"
          required
          maxLength={254}
          value={values.login ?? ''}
          onChange={(e) => set('login', e.target.value)}
        />
        <Field
          label={t('auth.password')}
          name="password"
          type="password"
          autoComplete="current-password"
          required
          maxLength={256}
          value={values.password ?? ''}
          onChange={(e) => set('password', e.target.value)}
        />
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {t('login.submit')}
        </button>
        {error !== null && <ErrorNotice error={error} />}
      </form>
      {canRegister && (
        <p>
          {t('login.no_account')} <Link to="/register">{t('login.register')}</Link>
        </p>
      )}
    </section>
  );
}

export function RegisterPage() {
  const { t } = useI18n();
  const { register, state } = useAuth();
  const { search } = useLocation();
  // An invite link (/register?invite=CODE) fills the code in.
  const { values, set } = useValues({ invite_code: search.get('invite') ?? '' });
  const invite = state.phase === 'ready' && state.registration === 'invite';
  const closed = state.phase === 'ready' && state.registration === 'closed';
  const { busy, error, submit } = useSubmit(async () => {
    await register({
      username: values.username ?? '',
      email: values.email ?? '',
      password: values.password ?? '',
      ...(invite ? { invite_code: values.invite_code ?? '' } : {}),
    });
    navigate('/', { replace: true });
  });
  return (
    <section className="page auth">
      <h1 tabIndex={-1}>{t('register.title')}</h1>
      {closed ? (
        <p className="notice">{t('register.closed')}</p>
      ) : (
        <form className="card form" onSubmit={(e) => void submit(e)}>
          <AccountFields values={values} set={set} withInvite={invite} />
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {t('register.submit')}
          </button>
          {error !== null && <ErrorNotice error={error} />}
        </form>
      )}
      <p>
        {t('register.have_account')} <Link to="/login">{t('register.sign_in')}</Link>
      </p>
    </section>
  );
}
