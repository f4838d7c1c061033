/**
 * The signed-in session: tokens kept in localStorage so a reload or a second
 * tab stays signed in. Refresh tokens rotate (each works once, and reusing an
 * old one revokes the whole session), so every tab reads the newest pair from
 * storage and refreshes under one cross-tab lock.
 */
import type { Schemas } from './types';

export interface Session {
  access_token: string;
  refresh_token: string;
  /** epoch ms when the access token expires */
  expires_at: number;
  user: Schemas['User'];
}

const KEY = 'ytbh.session';
const listeners = new Set<() => void>();

function read(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    return typeof s.access_token === 'string' && typeof s.refresh_token === 'string' ? s : null;
  } catch {
    return null;
  }
}

let current: Session | null = read();

function emit() {
  for (const l of listeners) l();
}

// Another tab signed in, refreshed or signed out.
window.addEventListener('storage', (e) => {
  if (e.key !== KEY && e.key !== null) return;
  current = read();
  emit();
});

export function getSession(): Session | null {
  return current;
}

/** The newest session, which another tab may have rotated since this one last looked. */
export function latestSession(): Session | null {
  current = read();
  return current;
}

export function subscribeSession(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function saveSession(pair: Schemas['TokenPair']): Session {
  const s: Session = {
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    expires_at: Date.now() + pair.expires_in * 1000,
    user: pair.user,
  };
  current = s;
  localStorage.setItem(KEY, JSON.stringify(s));
  emit();
  return s;
}

export function clearSession(): void {
  current = null;
  localStorage.removeItem(KEY);
  emit();
}
