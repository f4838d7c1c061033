/**
 * Platform cookies uploaded by an admin: one row per platform in
 * platform_cookies, encrypted with the field cipher and bound to the
 * platform (context `platform_cookies:{platform}`), so a value copied to
 * another platform's row does not decrypt.
 *
 * Extraction reads them on every request, so each process keeps the parsed
 * cookies in memory. A version token in the shared cache
 * (`platform_cookies:version:{platform}`) changes on every save and delete;
 * a process compares it before using its copy, so api and worker processes
 * see a change on their next request. The copy also ages out after a few
 * minutes in case the cache lost the token.
 *
 * Where they are used: every request a native extractor sends for the
 * platform (ctx.http adds the cookies matching each URL), and yt-dlp runs for
 * it (extraction and yt-dlp downloads, as a temporary --cookies file). Media
 * downloads by our own downloader do not get them: the media URLs are
 * already authorised by the extraction that used the cookies (signed
 * googlevideo.com / bilivideo.com URLs need only the Referer), those CDN hosts
 * do not domain-match the cookies (.youtube.com, .bilibili.com) anyway, and
 * formats are returned to API clients, so admin cookies must never end up in
 * a format's http_headers.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { AppError } from '../../errors/app-error.js';
import type { Cache } from '../../infra/cache/index.js';
import type { FieldCipher } from '../../infra/crypto/field-cipher.js';
import type { DB } from '../../infra/db/schema.js';
import { ENCRYPTED_COLUMNS } from '../../accounts/key-rotation.js';
import type { Platform } from '../model.js';
import { formatNetscapeCookies, parseNetscapeCookies, type Cookie } from './netscape.js';

const DEFAULT_MAX_AGE_MS = 5 * 60 * 1000;

export interface CookieStoreDeps {
  db: Kysely<DB>;
  cipher: FieldCipher;
  cache: Cache;
  log?: Logger;
  /** How long a process may use its copy without the cache's version check passing (default 5 min). */
  maxAgeMs?: number;
}

/** What admins may see about stored cookies: never a value. */
export interface CookieStatus {
  platform: Platform;
  present: boolean;
  cookie_count: number;
  domains: string[];
  /** the soonest expiry among cookies that have one (session cookies have none) */
  earliest_expiry: string | null;
  updated_at: string | null;
  updated_by: string | null;
}

interface Entry {
  version: string | null;
  loadedAt: number;
  cookies: readonly Cookie[] | undefined;
}

const versionKey = (platform: Platform): string => `platform_cookies:version:${platform}`;
const contextOf = (platform: Platform): string => ENCRYPTED_COLUMNS.platformCookies.context(platform);

export class CookieStore {
  private readonly entries = new Map<Platform, Entry>();

  constructor(private readonly deps: CookieStoreDeps) {}

  /** Parses (validation errors name the line), encrypts and stores a Netscape cookie file. */
  async save(platform: Platform, netscapeText: string, actorId: string | null): Promise<CookieStatus> {
    const cookies = parseNetscapeCookies(netscapeText);
    const enc = this.deps.cipher.encrypt(formatNetscapeCookies(cookies), contextOf(platform));
    const now = new Date();
    await this.deps.db
      .insertInto('platform_cookies')
      .values({ platform, cookies_enc: enc, updated_by: actorId, updated_at: now })
      .onConflict((oc) => oc.column('platform').doUpdateSet({ cookies_enc: enc, updated_by: actorId, updated_at: now }))
      .execute();
    await this.changed(platform);
    return statusOf(platform, cookies, { updated_at: now, updated_by: actorId });
  }

  /** True when there was something to delete. */
  async remove(platform: Platform): Promise<boolean> {
    const res = await this.deps.db.deleteFrom('platform_cookies').where('platform', '=', platform).executeTakeFirst();
    await this.changed(platform);
    return Number(res.numDeletedRows) > 0;
  }

  async status(platform: Platform): Promise<CookieStatus> {
    const row = await this.deps.db
      .selectFrom('platform_cookies')
      .selectAll()
      .where('platform', '=', platform)
      .executeTakeFirst();
    if (!row) {
      return {
        platform,
        present: false,
        cookie_count: 0,
        domains: [],
        earliest_expiry: null,
        updated_at: null,
        updated_by: null,
      };
    }
    return statusOf(platform, this.decode(platform, row.cookies_enc), row);
  }

  /**
   * The platform's cookies for outgoing requests, or undefined. Cookies that
   * cannot be decrypted are logged and left out: extraction goes on without them.
   */
  async load(platform: Platform): Promise<readonly Cookie[] | undefined> {
    // Cache unreachable (undefined): the copy is used until it ages out.
    const version = await this.deps.cache.get(versionKey(platform)).catch(() => undefined);
    const hit = this.entries.get(platform);
    const fresh = hit && Date.now() - hit.loadedAt < (this.deps.maxAgeMs ?? DEFAULT_MAX_AGE_MS);
    if (hit && fresh && (version === undefined || hit.version === version)) return hit.cookies;
    const row = await this.deps.db
      .selectFrom('platform_cookies')
      .select('cookies_enc')
      .where('platform', '=', platform)
      .executeTakeFirst();
    let cookies: readonly Cookie[] | undefined;
    try {
      cookies = row ? this.decode(platform, row.cookies_enc) : undefined;
    } catch (err) {
      this.deps.log?.error({ err, platform }, 'stored platform cookies are unusable; extracting without them');
    }
    this.entries.set(platform, { version: version ?? null, loadedAt: Date.now(), cookies });
    return cookies;
  }

  private decode(platform: Platform, enc: string): Cookie[] {
    try {
      return parseNetscapeCookies(this.deps.cipher.decrypt(enc, contextOf(platform)));
    } catch (err) {
      throw new AppError(
        'internal_error',
        `The stored ${platform} cookies cannot be read: ${(err as Error).message}. Upload them again.`,
        { platform },
      );
    }
  }

  private async changed(platform: Platform): Promise<void> {
    this.entries.delete(platform);
    await this.deps.cache.set(versionKey(platform), randomUUID());
  }
}

function statusOf(
  platform: Platform,
  cookies: readonly Cookie[],
  row: { updated_at: Date; updated_by: string | null },
): CookieStatus {
  const expiries = cookies.map((c) => c.expires).filter((e) => e > 0);
  return {
    platform,
    present: true,
    cookie_count: cookies.length,
    domains: [...new Set(cookies.map((c) => c.domain))].sort(),
    earliest_expiry: expiries.length ? new Date(Math.min(...expiries) * 1000).toISOString() : null,
    updated_at: row.updated_at.toISOString(),
    updated_by: row.updated_by,
  };
}
