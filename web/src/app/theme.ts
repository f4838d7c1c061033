/** Light, dark or the system's choice: a data-theme attribute the stylesheet keys on. */
export const THEMES = ['system', 'light', 'dark'] as const;
export type Theme = (typeof THEMES)[number];
const STORAGE_KEY = 'ytbh.theme';

export function isTheme(v: unknown): v is Theme {
  return typeof v === 'string' && (THEMES as readonly string[]).includes(v);
}

/** Whether this browser has a theme picked (by the user, or from their account before). */
export function hasChosenTheme(): boolean {
  return isTheme(localStorage.getItem(STORAGE_KEY));
}

export function savedTheme(): Theme {
  const t = localStorage.getItem(STORAGE_KEY);
  return isTheme(t) ? t : 'system';
}

export function applyTheme(theme: Theme): void {
  localStorage.setItem(STORAGE_KEY, theme);
  if (theme === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}
