/**
 * The signed-in user's stored preferences: download defaults for the home
 * page, theme and language (the server's choice is applied at sign-in so a
 * second device looks the same), and whether to notify on finished downloads.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, call } from '../api/client';
import type { paths, Schemas } from '../api/types';
import { applyTheme, hasChosenTheme } from '../app/theme';
import { hasChosenLang, useI18n } from '../i18n/i18n';
import { DEFAULT_CHOICE, type Choice } from './options';

export type Preferences = Schemas['Preferences'];
export type PreferencesPatch =
  paths['/api/v2/users/me/preferences']['put']['requestBody']['content']['application/json'];

interface PreferencesState {
  prefs: Preferences | null;
  error: unknown;
  save: (patch: PreferencesPatch) => Promise<Preferences>;
  reload: () => void;
}

const PreferencesContext = createContext<PreferencesState | null>(null);

export function PreferencesProvider({ userId, children }: { userId: string | null; children: ReactNode }) {
  const { setLang } = useI18n();
  const [prefs, setPrefs] = useState<Preferences | null>(null);
  const [error, setError] = useState<unknown>(null);

  /** `loaded`: read at sign-in, where a choice already made in this browser is kept over the account's. */
  const adopt = useCallback(
    (p: Preferences, loaded = false) => {
      setPrefs(p);
      if (!loaded || !hasChosenTheme()) applyTheme(p.theme);
      if (!loaded || !hasChosenLang()) setLang(p.language);
    },
    [setLang],
  );

  const reload = useCallback(() => {
    if (!userId) return;
    call(api.GET('/api/v2/users/me/preferences')).then(
      (p) => {
        setError(null);
        adopt(p, true);
      },
      (err: unknown) => setError(err),
    );
  }, [userId, adopt]);

  useEffect(() => {
    setPrefs(null);
    reload();
  }, [reload]);

  const value = useMemo<PreferencesState>(
    () => ({
      prefs,
      error,
      reload,
      async save(patch) {
        const p = await call(api.PUT('/api/v2/users/me/preferences', { body: patch }));
        adopt(p);
        return p;
      },
    }),
    [prefs, error, reload, adopt],
  );
  return <PreferencesContext.Provider value={value}>{children}</PreferencesContext.Provider>;
}

export function usePreferences(): PreferencesState {
  const ctx = useContext(PreferencesContext);
  if (!ctx) throw new Error('usePreferences outside PreferencesProvider');
  return ctx;
}

/** The home page's starting choices: the user's defaults once known. */
export function useDefaultChoice(): Choice {
  const { prefs } = usePreferences();
  return useMemo(
    () =>
      prefs
        ? {
            audioOnly: false,
            quality: prefs.default_quality,
            videoContainer: prefs.default_format,
            audioContainer: prefs.default_audio_format,
            codec: prefs.video_codec,
            audioLanguage: prefs.audio_language ?? '',
          }
        : DEFAULT_CHOICE,
    [prefs],
  );
}
