/**
 * A user's preferences (user_preferences): download defaults that fill what
 * a download request leaves out (delivery/options.ts resolveOptions), and UI
 * and notification settings. The webhook URL is a secret of its owner's
 * (it may carry a token): stored encrypted, bound to the user's row, and
 * checked against the SSRF guard when set.
 */
import type { Kysely, Selectable } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { DB, UserPreferencesTable } from '../infra/db/schema.js';
import type { FieldCipher } from '../infra/crypto/field-cipher.js';
import { assertPublicUrl, parseUserUrl } from '../infra/http-client/ssrf-guard.js';
import {
  AUDIO_CONTAINERS,
  DEFAULT_AUDIO_CONTAINER,
  DEFAULT_QUALITY,
  DEFAULT_VIDEO_CODEC,
  DEFAULT_VIDEO_CONTAINER,
  isValidLanguage,
  QUALITIES,
  VIDEO_CODECS,
  VIDEO_CONTAINERS,
  type AudioContainer,
  type DownloadPreferences,
  type Quality,
  type VideoCodecPreference,
  type VideoContainer,
} from '../delivery/options.js';

export const THEMES = ['light', 'dark', 'system'] as const;
export type Theme = (typeof THEMES)[number];
export const UI_LANGUAGES = ['en', 'zh-CN'] as const;
export type UiLanguage = (typeof UI_LANGUAGES)[number];
export const MAX_AUTO_CLEANUP_DAYS = 3650;

export interface Preferences {
  default_quality: Quality;
  default_format: VideoContainer;
  default_audio_format: AudioContainer;
  video_codec: VideoCodecPreference;
  audio_language: string | null;
  subtitles: string[];
  notifications_enabled: boolean;
  email_notifications: boolean;
  webhook_url: string | null;
  auto_cleanup_days: number | null;
  theme: Theme;
  language: UiLanguage;
  updated_at: string;
}

export type PreferencesUpdate = Partial<Omit<Preferences, 'updated_at'>>;

export interface PreferenceDeps {
  db: Kysely<DB>;
  cipher: FieldCipher;
  allowPrivateAddresses: boolean;
}

type Row = Selectable<UserPreferencesTable>;

const webhookContext = (userId: string) => `user_preferences.webhook_url:${userId}`;

function oneOf<T extends string>(allowed: readonly T[], value: string, fallback: T): T {
  return (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

async function loadRow(db: Kysely<DB>, userId: string) {
  const select = () => db.selectFrom('user_preferences').selectAll().where('user_id', '=', userId).executeTakeFirst();
  let row = await select();
  if (!row) {
    // Accounts get their row at creation; this repairs one made some other way.
    await db
      .insertInto('user_preferences')
      .values({ user_id: userId })
      .onConflict((oc) => oc.column('user_id').doNothing())
      .execute();
    row = await select();
  }
  if (!row) throw new AppError('not_found', 'No such user');
  return row;
}

/** The owner's view: values outside what the API accepts read as the defaults; the webhook decrypted. */
function view(cipher: FieldCipher, userId: string, row: Row): Preferences {
  let webhook: string | null = null;
  if (row.webhook_url_enc) {
    try {
      webhook = cipher.decrypt(row.webhook_url_enc, webhookContext(userId));
    } catch {
      // Encrypted with a key that is gone: it cannot be used anyway, so it reads as unset.
      webhook = null;
    }
  }
  return {
    default_quality: oneOf(QUALITIES, row.default_quality, DEFAULT_QUALITY),
    default_format: oneOf(VIDEO_CONTAINERS, row.default_format, DEFAULT_VIDEO_CONTAINER),
    default_audio_format: oneOf(AUDIO_CONTAINERS, row.default_audio_format, DEFAULT_AUDIO_CONTAINER),
    video_codec: oneOf(VIDEO_CODECS, row.video_codec, DEFAULT_VIDEO_CODEC),
    audio_language: isValidLanguage(row.audio_language) ? row.audio_language : null,
    subtitles: row.subtitles.filter(isValidLanguage),
    notifications_enabled: row.notifications_enabled,
    email_notifications: row.email_notifications,
    webhook_url: webhook,
    auto_cleanup_days: row.auto_cleanup_days,
    theme: oneOf(THEMES, row.theme, 'system'),
    language: oneOf(UI_LANGUAGES, row.language, 'en'),
    updated_at: row.updated_at.toISOString(),
  };
}

export async function getPreferences(
  deps: Pick<PreferenceDeps, 'db' | 'cipher'>,
  userId: string,
): Promise<Preferences> {
  return view(deps.cipher, userId, await loadRow(deps.db, userId));
}

/** Only the fields given change; the others keep their values. */
export async function updatePreferences(
  deps: PreferenceDeps,
  userId: string,
  patch: PreferencesUpdate,
): Promise<Preferences> {
  await loadRow(deps.db, userId); // creates a missing row, so the update below has one to change
  const { webhook_url, subtitles, ...plain } = patch;
  const set: Record<string, unknown> = { ...plain, updated_at: new Date() };
  if (subtitles !== undefined) set.subtitles = [...new Set(subtitles)];
  if (webhook_url !== undefined) {
    if (webhook_url === null || webhook_url === '') set.webhook_url_enc = null;
    else {
      const url = parseUserUrl(webhook_url);
      await assertPublicUrl(url, deps.allowPrivateAddresses);
      set.webhook_url_enc = deps.cipher.encrypt(url.href, webhookContext(userId));
    }
  }
  const row = await deps.db
    .updateTable('user_preferences')
    .set(set)
    .where('user_id', '=', userId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return view(deps.cipher, userId, row);
}

/** The preferences resolveOptions fills missing download options from. */
export async function downloadPreferences(db: Kysely<DB>, userId: string | null): Promise<DownloadPreferences | null> {
  if (!userId) return null;
  const row = await db
    .selectFrom('user_preferences')
    .select(['default_quality', 'default_format', 'default_audio_format', 'video_codec', 'audio_language', 'subtitles'])
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row ?? null;
}
