/**
 * API keys for programmatic use: `ytbh_{prefix}_{secret}`. Shown once; stored
 * as a SHA-256 hash and found by their prefix. A key carries scopes (read,
 * download, admin), never more than its owner's role allows.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { ApiKey, UserRole } from '../infra/db/schema.js';
import type { AccountsDeps } from './deps.js';
import type { Principal, Scope } from './principal.js';
import { randomToken, sameHash, sha256Hex } from './secret-token.js';

const KEY_PATTERN = /^ytbh_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
/** last_used_at is written at most this often per key. */
const TOUCH_INTERVAL_MS = 60_000;
export const MAX_KEYS_PER_USER = 50;

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith('ytbh_');
}

/** Scopes a role may hold. */
export function scopesForRole(role: UserRole): Scope[] {
  if (role === 'admin') return ['read', 'download', 'admin'];
  if (role === 'user') return ['read', 'download'];
  return ['read'];
}

export interface CreatedKey {
  key: ApiKey;
  /** the full secret, returned exactly once */
  secret: string;
}

export async function createApiKey(
  deps: Pick<AccountsDeps, 'db'>,
  owner: { id: string; role: UserRole },
  input: { name: string; scopes: Scope[]; expiresAt?: Date | null },
): Promise<CreatedKey> {
  const allowed = scopesForRole(owner.role);
  const denied = input.scopes.filter((s) => !allowed.includes(s));
  if (denied.length) {
    throw new AppError('forbidden', `Your role cannot grant the scope(s): ${denied.join(', ')}`, { scopes: denied });
  }
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
    throw new AppError('validation_failed', 'expires_at must be in the future');
  }
  const count = await deps.db
    .selectFrom('api_keys')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('user_id', '=', owner.id)
    .where('revoked_at', 'is', null)
    .executeTakeFirstOrThrow();
  if (count.n >= MAX_KEYS_PER_USER) throw new AppError('conflict', `At most ${MAX_KEYS_PER_USER} active keys per user`);
  const prefix = randomBytes(6).toString('hex');
  const secret = `ytbh_${prefix}_${randomToken(32)}`;
  const key = await deps.db
    .insertInto('api_keys')
    .values({
      user_id: owner.id,
      name: input.name,
      prefix,
      key_hash: sha256Hex(secret),
      scopes: [...new Set(input.scopes)],
      expires_at: input.expiresAt ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { key, secret };
}

export async function listApiKeys(deps: Pick<AccountsDeps, 'db'>, userId: string): Promise<ApiKey[]> {
  return deps.db
    .selectFrom('api_keys')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .execute();
}

/** Revokes a key of this user (or of anyone when userId is null: admins); 404 when it is not theirs. */
export async function revokeApiKey(
  deps: Pick<AccountsDeps, 'db'>,
  keyId: string,
  userId: string | null,
): Promise<ApiKey> {
  let q = deps.db.updateTable('api_keys').set({ revoked_at: new Date() }).where('id', '=', keyId);
  if (userId) q = q.where('user_id', '=', userId);
  const key = await q.where('revoked_at', 'is', null).returningAll().executeTakeFirst();
  if (key) return key;
  let existing = deps.db.selectFrom('api_keys').selectAll().where('id', '=', keyId);
  if (userId) existing = existing.where('user_id', '=', userId);
  const found = await existing.executeTakeFirst();
  if (!found) throw new AppError('not_found', 'No such API key');
  return found;
}

export async function revokeUserApiKeys(deps: Pick<AccountsDeps, 'db'>, userId: string): Promise<number> {
  const r = await deps.db
    .updateTable('api_keys')
    .set({ revoked_at: new Date() })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** The principal behind an API key, or 401 (unknown, revoked, expired, or its user disabled). */
export async function principalFromApiKey(deps: Pick<AccountsDeps, 'db'>, token: string): Promise<Principal> {
  const invalid = new AppError('unauthorized', 'Invalid API key');
  const m = KEY_PATTERN.exec(token);
  if (!m) throw invalid;
  const row = await deps.db
    .selectFrom('api_keys')
    .innerJoin('users', 'users.id', 'api_keys.user_id')
    .select([
      'api_keys.id',
      'api_keys.key_hash',
      'api_keys.scopes',
      'api_keys.expires_at',
      'api_keys.revoked_at',
      'api_keys.last_used_at',
      'users.id as user_id',
      'users.username',
      'users.role',
      'users.is_active',
    ])
    .where('api_keys.prefix', '=', m[1]!)
    .executeTakeFirst();
  if (!row || !sameHash(row.key_hash, sha256Hex(token))) throw invalid;
  if (row.revoked_at) throw new AppError('unauthorized', 'This API key has been revoked', { reason: 'revoked' });
  if (row.expires_at && row.expires_at.getTime() <= Date.now()) {
    throw new AppError('unauthorized', 'This API key has expired', { reason: 'expired' });
  }
  if (!row.is_active) throw invalid;
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > TOUCH_INTERVAL_MS) {
    await deps.db.updateTable('api_keys').set({ last_used_at: new Date() }).where('id', '=', row.id).execute();
  }
  // A key never outranks its owner: a demoted admin's admin-scoped key loses that scope at once.
  const allowed = scopesForRole(row.role);
  return {
    user: { id: row.user_id, username: row.username, role: row.role },
    via: 'api_key',
    scopes: (row.scopes as Scope[]).filter((s) => allowed.includes(s)),
    apiKeyId: row.id,
  };
}
