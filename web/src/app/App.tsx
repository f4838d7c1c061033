/** The app: providers, the frame (header, navigation, language) and which page the address shows. */
import { useEffect, useRef } from 'react';
import { AuthProvider, useAuth } from './auth';
import { LiveProvider } from './live';
import { Link, navigate, useLocation, type Page } from './router';
import { ErrorNotice, Loading } from '../components/feedback';
import { I18nProvider, LANG_NAMES, LANGS, useI18n, type Lang, type MessageKey } from '../i18n/i18n';
import { HomePage } from '../pages/HomePage';
import { QueuePage } from '../pages/QueuePage';
import { LibraryPage } from '../pages/LibraryPage';
import { SettingsPage } from '../pages/SettingsPage';
import { AdminPage } from '../pages/AdminPage';
import { LoginPage, RegisterPage, SetupPage } from '../pages/AuthPages';
import { PreferencesProvider, usePreferences } from '../lib/preferences';
import { CompletionNotifier } from './notifier';

const PUBLIC: Page[] = ['/setup', '/login', '/register'];
const NAV: { to: Page; key: MessageKey; admin?: boolean }[] = [
  { to: '/', key: 'nav.home' },
  { to: '/queue', key: 'nav.queue' },
  { to: '/library', key: 'nav.library' },
  { to: '/settings', key: 'nav.settings' },
  { to: '/admin', key: 'nav.admin', admin: true },
];

export function App() {
  return (
    <I18nProvider>
      <AuthProvider>
        <WithPreferences />
      </AuthProvider>
    </I18nProvider>
  );
}

function WithPreferences() {
  const { state } = useAuth();
  const userId = state.phase === 'ready' ? (state.user?.id ?? null) : null;
  return (
    <PreferencesProvider userId={userId}>
      <Shell />
    </PreferencesProvider>
  );
}

function LanguageSwitch({ signedIn }: { signedIn: boolean }) {
  const { t, lang, setLang } = useI18n();
  const { save } = usePreferences();
  const change = (l: Lang) => {
    setLang(l);
    // Remembered on the account too, so the next device starts in it; the switch works even if that fails.
    if (signedIn) save({ language: l }).catch(() => {});
  };
  return (
    <label className="lang-switch">
      <span className="visually-hidden">{t('nav.language')}</span>
      <select value={lang} onChange={(e) => change(e.target.value as Lang)}>
        {LANGS.map((l) => (
          <option key={l} value={l} lang={l}>
            {LANG_NAMES[l]}
          </option>
        ))}
      </select>
    </label>
  );
}

function Shell() {
  const { t } = useI18n();
  const { state, logout, reload } = useAuth();
  const { path, href } = useLocation();
  const main = useRef<HTMLElement>(null);
  const user = state.phase === 'ready' ? state.user : null;

  // Where the address may not be shown: first run goes to setup, signed-out users to sign-in.
  let redirect: string | null = null;
  if (state.phase === 'ready') {
    const publicPage = (PUBLIC as string[]).includes(path);
    // Signed in means set up, even before the status is read again.
    const setup = state.setupRequired && !user;
    if (setup && path !== '/setup') redirect = '/setup';
    else if (!setup && path === '/setup') redirect = '/';
    else if (!setup && !user && !publicPage) redirect = `/login?next=${encodeURIComponent(href)}`;
    else if (user && publicPage) redirect = '/';
  }
  useEffect(() => {
    if (redirect) navigate(redirect, { replace: true });
  }, [redirect]);

  // A new page: move focus to its heading so screen readers announce it and Tab starts there.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [path]);

  const signOut = async () => {
    await logout();
    // Titles an older version of the page remembered here; nothing is kept per browser now.
    localStorage.removeItem('ytbh.video-meta');
    navigate('/login', { replace: true });
  };

  let page;
  if (state.phase === 'loading' || (state.phase === 'ready' && redirect)) page = <Loading />;
  else if (state.phase === 'error')
    page = <ErrorNotice title={t('app.unavailable')} error={state.error} onRetry={() => void reload()} />;
  else if (path === '/setup') page = <SetupPage />;
  else if (path === '/login') page = <LoginPage />;
  else if (path === '/register') page = <RegisterPage />;
  else if (!user) page = <Loading />;
  else
    page = (
      <LiveProvider userId={user.id}>
        <CompletionNotifier />
        {path === '/' ? (
          <HomePage />
        ) : path === '/queue' ? (
          <QueuePage />
        ) : path === '/library' ? (
          <LibraryPage />
        ) : path === '/settings' ? (
          <SettingsPage />
        ) : path === '/admin' && user.role === 'admin' ? (
          <AdminPage />
        ) : (
          <section className="page">
            <h1 tabIndex={-1}>{t('app.not_found')}</h1>
            <Link to="/">{t('nav.home')}</Link>
          </section>
        )}
      </LiveProvider>
    );

  return (
    <>
      <a className="skip-link" href="#main">
        {t('app.skip')}
      </a>
      <header className="topbar">
        <Link className="brand" to="/">
          <img src="/icons/icon.svg" alt="" width="28" height="28" />
          <span>ytbh</span>
        </Link>
        {user && (
          <nav className="nav" aria-label={t('nav.main')}>
            <ul>
              {NAV.filter((n) => !n.admin || user.role === 'admin').map((n) => (
                <li key={n.to}>
                  <Link to={n.to} aria-current={path === n.to ? 'page' : undefined}>
                    {t(n.key)}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
        )}
        <div className="topbar-end">
          <LanguageSwitch signedIn={Boolean(user)} />
          {user && (
            <button type="button" className="btn btn-ghost" onClick={() => void signOut()}>
              {t('nav.sign_out', { name: user.username })}
            </button>
          )}
        </div>
      </header>
      <main id="main" ref={main}>
        {page}
      </main>
    </>
  );
}
