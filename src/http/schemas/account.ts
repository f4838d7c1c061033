/** Account shapes shared by the auth, user and admin routes. */
import { Type, type TSchema } from '@sinclair/typebox';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../../accounts/passwords.js';
import { SCOPES } from '../../accounts/principal.js';
import {
  AUDIO_CONTAINERS,
  LANGUAGE_PATTERN,
  MAX_LANGUAGE_LENGTH,
  MAX_SUBTITLE_LANGUAGES,
  QUALITIES,
  VIDEO_CODECS,
  VIDEO_CONTAINERS,
} from '../../delivery/options.js';
import { MAX_AUTO_CLEANUP_DAYS, THEMES, UI_LANGUAGES } from '../../accounts/preferences.js';
import { MAX_URL_LENGTH } from '../../infra/http-client/ssrf-guard.js';

export const Password = Type.String({ minLength: MIN_PASSWORD_LENGTH, maxLength: MAX_PASSWORD_LENGTH });
export const Username = Type.String({ minLength: 3, maxLength: 32, pattern: '^[A-Za-z0-9_.-]+$' });
export const Email = Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' });
export const Role = Type.Union([Type.Literal('admin'), Type.Literal('user'), Type.Literal('guest')]);
export const ScopeSchema = Type.Union(SCOPES.map((s) => Type.Literal(s)));
const DateTime = Type.String({ format: 'date-time' });

export const UserSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    username: Type.String(),
    email: Type.String(),
    display_name: Type.Union([Type.String(), Type.Null()]),
    role: Role,
    is_active: Type.Boolean(),
    created_at: DateTime,
    last_login_at: Type.Union([DateTime, Type.Null()]),
  },
  { $id: 'User', title: 'User' },
);

export const TokenPairSchema = Type.Object(
  {
    access_token: Type.String({ description: 'JWT for `Authorization: Bearer`' }),
    refresh_token: Type.String({ description: 'single use: each refresh returns a new one' }),
    token_type: Type.Literal('Bearer'),
    expires_in: Type.Integer({ description: 'seconds until the access token expires' }),
    session_id: Type.String({ format: 'uuid' }),
    user: Type.Ref(UserSchema),
  },
  { $id: 'TokenPair', title: 'TokenPair' },
);

export const ApiKeySchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    prefix: Type.String({ description: 'the key starts with ytbh_{prefix}_' }),
    scopes: Type.Array(ScopeSchema),
    expires_at: Type.Union([DateTime, Type.Null()]),
    last_used_at: Type.Union([DateTime, Type.Null()]),
    revoked_at: Type.Union([DateTime, Type.Null()]),
    created_at: DateTime,
  },
  { $id: 'ApiKey', title: 'ApiKey' },
);

const literals = <T extends string>(values: readonly T[], opts: object = {}) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    opts,
  );
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Language = Type.String({ minLength: 1, maxLength: MAX_LANGUAGE_LENGTH, pattern: LANGUAGE_PATTERN });
export const DisplayName = Type.String({ minLength: 1, maxLength: 100 });

export const UserUpdateBody = Type.Object(
  {
    display_name: Type.Optional(Nullable(DisplayName)),
    email: Type.Optional(Email),
    current_password: Type.Optional(
      Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH, description: 'required to change the email' }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const PasswordChangeBody = Type.Object(
  { current_password: Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH }), new_password: Password },
  { additionalProperties: false },
);

/** Preferences fields as a client sets them; the allowed values are those download options accept. */
const preferenceFields = {
  default_quality: literals(QUALITIES, { description: 'quality when a download does not say' }),
  default_format: literals(VIDEO_CONTAINERS, { description: 'video container when a download does not say' }),
  default_audio_format: literals(AUDIO_CONTAINERS, { description: 'container of audio-only downloads' }),
  video_codec: literals(VIDEO_CODECS),
  audio_language: Nullable(Language),
  subtitles: Type.Array(Language, {
    maxItems: MAX_SUBTITLE_LANGUAGES,
    uniqueItems: true,
    description: 'subtitle languages fetched by default (embedded; sidecar for audio)',
  }),
  notifications_enabled: Type.Boolean(),
  email_notifications: Type.Boolean(),
  webhook_url: Nullable(
    Type.String({
      minLength: 1,
      maxLength: MAX_URL_LENGTH,
      description: 'http(s) URL called on download events; stored encrypted, shown only to you',
    }),
  ),
  auto_cleanup_days: Nullable(Type.Integer({ minimum: 1, maximum: MAX_AUTO_CLEANUP_DAYS })),
  theme: literals(THEMES),
  language: literals(UI_LANGUAGES),
};

export const PreferencesSchema = Type.Object(
  { ...preferenceFields, updated_at: DateTime },
  { $id: 'Preferences', title: 'Preferences' },
);

export const PreferencesUpdateBody = Type.Partial(Type.Object(preferenceFields), {
  additionalProperties: false,
  minProperties: 1,
});

const Count = Type.Integer({ minimum: 0 });
const QuotaLineSchema = Type.Object({
  limit: Count,
  used: Count,
  remaining: Count,
  source: Type.Union([Type.Literal('role'), Type.Literal('user')], {
    description: "'user': the user's own limit; 'role': the role's default",
  }),
  resets_at: Type.Union([DateTime, Type.Null()], { description: 'when used goes back to 0 (daily, monthly)' }),
});

export const QuotaSchema = Type.Object(
  {
    role: Role,
    daily: QuotaLineSchema,
    monthly: QuotaLineSchema,
    storage: QuotaLineSchema,
    concurrent: QuotaLineSchema,
    active_tasks: Count,
  },
  {
    $id: 'Quota',
    title: 'Quota',
    description:
      'daily/monthly: downloads created per UTC day/month; storage: bytes of completed downloads; concurrent: downloads running at once (more wait in the queue)',
  },
);

/** Limits an admin sets: integer ≥ 0. */
export const DailyLimit = Type.Integer({ minimum: 0, maximum: 2_147_483_647 });
export const StorageLimit = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const ACCOUNT_SCHEMAS = [UserSchema, TokenPairSchema, ApiKeySchema, PreferencesSchema, QuotaSchema];
