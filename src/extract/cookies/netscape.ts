/**
 * The Netscape cookie file format (what browser extensions export, what curl
 * and yt-dlp read): one cookie per line, seven tab-separated fields
 *
 *   domain  include-subdomains  path  secure  expires  name  value
 *
 * `#HttpOnly_` before the domain marks an HttpOnly cookie; other lines
 * starting with `#` are comments. Parsing is strict about anything that
 * could reach a request header (no control characters, no `;` in values),
 * and every error names its line.
 */
import { AppError } from '../../errors/app-error.js';

export const MAX_COOKIE_FILE_BYTES = 1024 * 1024;
export const MAX_COOKIES = 5000;

export interface Cookie {
  /** lower case, without a leading dot */
  domain: string;
  /** false: the cookie is sent to subdomains too (include-subdomains TRUE) */
  hostOnly: boolean;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  /** Unix seconds; 0 for a session cookie (never expires here) */
  expires: number;
  name: string;
  value: string;
}

const HTTPONLY_PREFIX = '#HttpOnly_';
// A cookie name is an RFC 7230 token; values are printable ASCII without ';' (header injection, splitting).
const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VALUE = /^[\x20-\x3a\x3c-\x7e]*$/;
const DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const PATH = /^\/[\x21-\x3a\x3c-\x7e]*$/;
const EXPIRES = /^\d{1,12}(\.\d+)?$/;
const BOOL: Readonly<Record<string, boolean>> = { TRUE: true, FALSE: false };

function invalid(line: number, message: string): AppError {
  return new AppError('validation_failed', `Cookie file line ${line}: ${message}`, { line });
}

function parseLine(raw: string, line: number): Cookie {
  const httpOnly = raw.startsWith(HTTPONLY_PREFIX);
  const fields = (httpOnly ? raw.slice(HTTPONLY_PREFIX.length) : raw).split('\t');
  if (fields.length !== 7) {
    throw invalid(line, `expected 7 tab-separated fields, found ${fields.length}`);
  }
  const [rawDomain, sub, cookiePath, secure, expires, name, value] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const domain = rawDomain.toLowerCase().replace(/^\./, '');
  if (domain.length > 253 || !DOMAIN.test(domain)) throw invalid(line, `invalid domain "${rawDomain.slice(0, 100)}"`);
  const includeSubdomains = BOOL[sub.toUpperCase()];
  if (includeSubdomains === undefined) throw invalid(line, 'include-subdomains (field 2) must be TRUE or FALSE');
  if (!PATH.test(cookiePath)) throw invalid(line, 'path (field 3) must start with "/"');
  const isSecure = BOOL[secure.toUpperCase()];
  if (isSecure === undefined) throw invalid(line, 'secure (field 4) must be TRUE or FALSE');
  if (!EXPIRES.test(expires)) throw invalid(line, 'expires (field 5) must be Unix seconds (0 for a session cookie)');
  if (!NAME.test(name)) throw invalid(line, 'invalid cookie name (field 6)');
  if (!VALUE.test(value)) throw invalid(line, `cookie "${name}" has a value with characters a header cannot carry`);
  return {
    domain,
    hostOnly: !includeSubdomains,
    path: cookiePath,
    secure: isSecure,
    httpOnly,
    expires: Math.floor(Number(expires)),
    name,
    value,
  };
}

/** Parses a cookie file; a later line for the same domain, path and name replaces an earlier one. */
export function parseNetscapeCookies(text: string): Cookie[] {
  if (Buffer.byteLength(text, 'utf8') > MAX_COOKIE_FILE_BYTES) {
    throw new AppError('validation_failed', `The cookie file is larger than ${MAX_COOKIE_FILE_BYTES} bytes`, {
      limit: MAX_COOKIE_FILE_BYTES,
    });
  }
  const byKey = new Map<string, Cookie>();
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((rawLine, i) => {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line.trim() === '') return;
    if (line.startsWith('#') && !line.startsWith(HTTPONLY_PREFIX)) return;
    const cookie = parseLine(line, i + 1);
    const key = `${cookie.hostOnly ? '' : '.'}${cookie.domain}\t${cookie.path}\t${cookie.name}`;
    byKey.delete(key); // keeps file order for the replacement
    byKey.set(key, cookie);
    if (byKey.size > MAX_COOKIES) throw invalid(i + 1, `more than ${MAX_COOKIES} cookies`);
  });
  if (byKey.size === 0) throw new AppError('validation_failed', 'The cookie file holds no cookies');
  return [...byKey.values()];
}

/**
 * Writes cookies back as a Netscape file. The domain carries a leading dot
 * exactly when subdomains are included: Python's MozillaCookieJar (yt-dlp)
 * refuses files where the two disagree.
 */
export function formatNetscapeCookies(cookies: readonly Cookie[]): string {
  const lines = cookies.map((c) =>
    [
      `${c.httpOnly ? HTTPONLY_PREFIX : ''}${c.hostOnly ? '' : '.'}${c.domain}`,
      c.hostOnly ? 'FALSE' : 'TRUE',
      c.path,
      c.secure ? 'TRUE' : 'FALSE',
      String(c.expires),
      c.name,
      c.value,
    ].join('\t'),
  );
  return ['# Netscape HTTP Cookie File', ...lines, ''].join('\n');
}
