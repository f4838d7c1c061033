/**
 * yt-dlp reports every failure as free text on stderr; this turns the final
 * ERROR line into one of our error codes. Pure, so the table of real yt-dlp
 * messages in the tests pins the behaviour down.
 */
import { AppError, type ErrorCode } from '../../errors/app-error.js';

interface Rule {
  code: ErrorCode;
  message: string;
  test: RegExp;
}

// Order matters: a YouTube geo block reads "Video unavailable. The uploader has not made this
// video available in your country", and "Private video. Sign in if you've been granted access"
// mentions signing in, so the specific rules come before the generic ones.
const RULES: Rule[] = [
  { code: 'unsupported_url', message: 'The URL is not supported', test: /\bUnsupported URL\b/i },
  { code: 'private', message: 'The video is private', test: /\bprivate video\b|\bvideo is private\b/i },
  { code: 'age_restricted', message: 'The video is age-restricted', test: /confirm your age|age[- ]restricted/i },
  {
    code: 'region_blocked',
    message: 'The video is not available in this region',
    test: /not (?:made this video )?available in your (?:country|region)|geo[- ]?restrict/i,
  },
  {
    code: 'live_not_started',
    message: 'The live stream has not started yet',
    test: /live event will begin|premieres in|not currently live|waiting for scheduled stream/i,
  },
  {
    code: 'payment_required',
    message: 'The video requires a paid membership',
    test: /members[- ]only|only available (?:for|to) (?:subscribers|members)|requires payment|purchase/i,
  },
  { code: 'rate_limited', message: 'The upstream site is rate limiting us', test: /\b429\b|too many requests/i },
  {
    code: 'login_required',
    message: 'The video requires signing in',
    test: /sign in to confirm|login required|log in (?:for access|to)|\blogin\b.*\brequired|use --cookies|--cookies-from-browser/i,
  },
  { code: 'not_found', message: 'The video was not found', test: /HTTP Error 404\b|\b404\b.*not found/i },
  {
    code: 'removed',
    message: 'The video has been removed',
    test: /\bremoved\b|has been terminated|HTTP Error 410\b|no longer available/i,
  },
  {
    code: 'unavailable',
    message: 'The video is unavailable',
    test: /video (?:is )?unavailable|not available|content isn't available/i,
  },
  { code: 'upstream_timeout', message: 'The upstream site timed out', test: /timed? ?out\b|TimeoutError/i },
];

/** The line worth showing: the last ERROR line, else the last non-empty one. */
export function lastErrorLine(stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const line = [...lines].reverse().find((l) => l.startsWith('ERROR:')) ?? lines.at(-1) ?? '';
  return cleanLine(line);
}

/** Drops yt-dlp's boilerplate and anything that looks like a path on our disk. */
export function cleanLine(line: string): string {
  return line
    .replace(/^ERROR:\s*/, '')
    .replace(/;?\s*please report this issue on\b.*$/i, '')
    .replace(/(?<=^|[\s'"(=:,])\/(?:[^\s'"()/]+\/)*[^\s'"()/]+/g, (m, offset: number, s: string) =>
      // A path inside a URL (e.g. a `?next=/a/b` query) is not ours; keep it.
      /\/\/\S*$/.test(s.slice(0, offset)) ? m : '<path>',
    )
    .replace(/\b[A-Za-z]:\\[^\s'"]+/g, '<path>')
    .trim()
    .slice(0, 500);
}

/** Maps a failed yt-dlp run (its stderr) to an AppError. */
export function ytdlpError(stderr: string): AppError {
  const reason = lastErrorLine(stderr);
  const rule = RULES.find((r) => r.test.test(reason));
  if (rule) return new AppError(rule.code, rule.message, { reason });
  return new AppError('upstream_error', reason ? `yt-dlp failed: ${reason}` : 'yt-dlp failed', { reason });
}
