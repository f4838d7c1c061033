/**
 * When a native extractor fails, should yt-dlp try? Only when we failed to
 * understand the platform (a parse error, an unexpected answer) — never when
 * the platform told us something definite (private, removed, region...).
 */
import { isAppError } from '../errors/app-error.js';

export function shouldFallBackToYtdlp(err: unknown): boolean {
  if (!isAppError(err)) return true; // our parser threw: the page changed shape
  return err.code === 'upstream_error';
}
