/**
 * Who is signed in, and whether the instance still needs its first account.
 * Pages read it through useAuth(); sign-in, sign-up and sign-out go through here.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, call, refreshSession } from '../api/client';
import { clearSession, getSession, saveSession, subscribeSession } from '../api/session';
import type { User } from '../api/types';

export type Registration = 'open' | 'invite' | 'closed';

export type AuthState =
  | { phase: 'loading' }
  | { phase: 'error'; error: unknown }
  | { phase: 'ready'; setupRequired: boolean; registration: Registration; user: User | null };

interface Auth {
  state: AuthState;
  reload: () => Promise<void>;
  login: (login: string, password: string) => Promise<void>;
  register: (input: {
    username: string;
    email: string;
    password: string;
    display_name?: string;
    invite_code?: string;
  }) => Promise<void>;
  logout: () => Promise<void>;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ phase: 'loading' });

  const reload = useCallback(async () => {
    try {
      let status = await call(api.GET('/api/v2/auth/status'));
      // The status route is public, so a refused token comes back as "nobody": refresh once and ask
      // again; a session the server no longer honours at all is dropped, not kept to fail every call.
      const stale = getSession();
      if (!status.user && stale) {
        if (await refreshSession(stale.access_token)) status = await call(api.GET('/api/v2/auth/status'));
        if (!status.user) clearSession();
      }
      setState({
        phase: 'ready',
        setupRequired: status.setup_required,
        registration: status.registration,
        user: status.user,
      });
    } catch (error) {
      setState({ phase: 'error', error });
    }
  }, []);

  useEffect(() => {
    void reload();
  }, [reload]);

  // Signed out elsewhere (another tab, a refused refresh): show it here too.
  useEffect(
    () =>
      subscribeSession(() => {
        const s = getSession();
        setState((prev) =>
          prev.phase === 'ready' && (prev.user?.id ?? null) !== (s?.user.id ?? null)
            ? { ...prev, user: s?.user ?? null }
            : prev,
        );
      }),
    [],
  );

  const value = useMemo<Auth>(
    () => ({
      state,
      reload,
      async login(login, password) {
        saveSession(await call(api.POST('/api/v2/auth/login', { body: { login, password } })));
        await reload();
      },
      async register(input) {
        saveSession(await call(api.POST('/api/v2/auth/register', { body: input })));
        await reload();
      },
      async logout() {
        try {
          await call(api.POST('/api/v2/auth/logout'));
        } catch {
          /* the session may already be gone; signing out locally is what matters */
        }
        clearSession();
        await reload();
      },
    }),
    [state, reload],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside AuthProvider');
  return ctx;
}

/** The signed-in user; only for pages behind the sign-in guard. */
export function useUser(): User {
  const { state } = useAuth();
  if (state.phase !== 'ready' || !state.user) throw new Error('useUser on a page without a signed-in user');
  return state.user;
}
