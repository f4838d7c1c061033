/**
 * yt-dlp reads cookies only from a file (`--cookies FILE`). The file lives
 * for one run in a fresh private directory (0700, the file 0600) and is
 * removed afterwards whatever happens, so the decrypted cookies are on disk
 * only while yt-dlp needs them. (yt-dlp also writes the jar back into it on
 * exit, which is why it gets its own directory.)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isExpired } from './match.js';
import { formatNetscapeCookies, type Cookie } from './netscape.js';

export const COOKIE_DIR_PREFIX = 'ytbh-cookies-';

/** Runs `fn` with the path of a cookie file holding the unexpired cookies; without any, `fn(undefined)`. */
export async function withCookieFile<T>(
  cookies: readonly Cookie[] | undefined,
  fn: (file: string | undefined) => Promise<T>,
): Promise<T> {
  const live = (cookies ?? []).filter((c) => !isExpired(c, Date.now() / 1000));
  if (!live.length) return fn(undefined);
  // mkdtemp creates the directory with mode 0700.
  const dir = await mkdtemp(path.join(os.tmpdir(), COOKIE_DIR_PREFIX));
  try {
    const file = path.join(dir, 'cookies.txt');
    await writeFile(file, formatNetscapeCookies(live), { mode: 0o600, flag: 'wx' });
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `--cookies FILE` when there is a file. */
export function cookieArgs(file: string | undefined): string[] {
  return file ? ['--cookies', file] : [];
}
