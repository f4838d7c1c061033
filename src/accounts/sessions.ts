/**
 * Sessions: a login starts a family of rotating refresh tokens (stored
 * hashed). The family id is the session id: access tokens carry it, and
 * `session:{id}` in the cache (24 h) says it is alive, so logout and
 * revocation take effect at once on every api process. The database is the
 * truth; a cache miss (restart, eviction) is re-checked there.
 *
 * Presenting a refresh token that was already rotated means it leaked:
 * the whole family is revoked.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { User, UserRole } from '../infra/db/schema.js';
import { getJson, setJson } from '../infra/cache/index.js';
import { audit } from './audit.js';
import type { AccountsDeps, ClientInfo } from './deps.js';
import { randomToken, sha256Hex } from './secret-token.js';
import { signAccessToken, verifyAccessToken } from './tokens.js';
import type { Principal } from './principal.js';
import { SCOPES } from './principal.js';

export const SESSION_CACHE_TTL = 24 * 3600;

export interface SessionEntry {
  user_id: string;
  username: string;
  role: UserRole;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  /** seconds until the access token expires */
  expires_in: number;
  session_id: string;
}

const sessionKey = (sid: string) => `session:${sid}`;

async function issue(
  deps: AccountsDeps,
  user: User,
  familyId: string,
  client: ClientInfo,
): Promise<{ pair: TokenPair; rowId: string }> {
  const refresh = `rt_${randomToken(32)}`;
  const row = await deps.db
    .insertInto('refresh_sessions')
    .values({
      user_id: user.id,
      family_id: familyId,
      token_hash: sha256Hex(refresh),
      ip: client.ip,
      user_agent: client.userAgent?.slice(0, 512) ?? null,
      expires_at: new Date(Date.now() + deps.refreshTokenTtl * 1000),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await setJson(deps.cache, sessionKey(familyId), entryOf(user), SESSION_CACHE_TTL);
  const access = await signAccessToken(deps.jwtSecret, { sub: user.id, sid: familyId }, deps.accessTokenTtl);
  return {
    rowId: row.id,
    pair: {
      access_token: access,
      refresh_token: refresh,
      token_type: 'Bearer',
      expires_in: deps.accessTokenTtl,
      session_id: familyId,
    },
  };
}

function entryOf(user: Pick<User, 'id' | 'username' | 'role'>): SessionEntry {
  return { user_id: user.id, username: user.username, role: user.role };
}

export async function startSession(deps: AccountsDeps, user: User, client: ClientInfo): Promise<TokenPair> {
  return (await issue(deps, user, randomUUID(), client)).pair;
}

/** Exchanges a refresh token for a new pair; a reused (already rotated) token revokes its family. */
export async function rotateSession(
  deps: AccountsDeps,
  refreshToken: string,
  client: ClientInfo,
): Promise<{ pair: TokenPair; user: User }> {
  const invalid = () => new AppError('unauthorized', 'Invalid or expired refresh token');
  if (!refreshToken.startsWith('rt_') || refreshToken.length > 100) throw invalid();
  const row = await deps.db
    .selectFrom('refresh_sessions')
    .selectAll()
    .where('token_hash', '=', sha256Hex(refreshToken))
    .executeTakeFirst();
  if (!row) throw invalid();
  if (row.revoked_at) throw invalid();
  if (row.replaced_by) {
    await revokeFamily(deps, row.family_id);
    await audit(deps.db, {
      actorId: row.user_id,
      action: 'auth.refresh_reuse',
      targetType: 'session',
      targetId: row.family_id,
      ip: client.ip,
    });
    throw new AppError('unauthorized', 'Refresh token reuse detected: the session has been revoked', {
      reason: 'reuse',
    });
  }
  if (row.expires_at.getTime() <= Date.now()) throw invalid();
  const user = await deps.db.selectFrom('users').selectAll().where('id', '=', row.user_id).executeTakeFirst();
  if (!user || !user.is_active) throw invalid();
  const { pair, rowId } = await issue(deps, user, row.family_id, client);
  // Only one rotation of a token can win: a racing second use finds replaced_by set and counts as reuse.
  const won = await deps.db
    .updateTable('refresh_sessions')
    .set({ replaced_by: rowId })
    .where('id', '=', row.id)
    .where('replaced_by', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (Number(won.numUpdatedRows) !== 1) {
    await revokeFamily(deps, row.family_id);
    throw invalid();
  }
  return { pair, user };
}

export async function revokeFamily(deps: Pick<AccountsDeps, 'db' | 'cache'>, familyId: string): Promise<void> {
  await deps.db
    .updateTable('refresh_sessions')
    .set({ revoked_at: new Date() })
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null)
    .execute();
  await deps.cache.del(sessionKey(familyId));
}

/** Revokes every session of a user (password change, disable, admin action); returns how many. */
export async function revokeUserSessions(
  deps: Pick<AccountsDeps, 'db' | 'cache'>,
  userId: string,
  exceptFamily?: string,
): Promise<number> {
  let q = deps.db
    .updateTable('refresh_sessions')
    .set({ revoked_at: new Date() })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null);
  if (exceptFamily) q = q.where('family_id', '<>', exceptFamily);
  const rows = await q.returning('family_id').execute();
  const families = [...new Set(rows.map((r) => r.family_id))];
  for (const f of families) await deps.cache.del(sessionKey(f));
  return families.length;
}

/** Role or name changed: drop cached session entries so the next request reads the user again. */
export async function refreshUserSessions(deps: Pick<AccountsDeps, 'db' | 'cache'>, userId: string): Promise<void> {
  const rows = await deps.db
    .selectFrom('refresh_sessions')
    .select('family_id')
    .distinct()
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute();
  for (const r of rows) await deps.cache.del(sessionKey(r.family_id));
}

/** The principal behind an access token, or 401. */
export async function principalFromAccessToken(deps: AccountsDeps, token: string): Promise<Principal> {
  const claims = await verifyAccessToken(deps.jwtSecret, token);
  let entry = await getJson<SessionEntry>(deps.cache, sessionKey(claims.sid));
  if (!entry || entry.user_id !== claims.sub) {
    const alive = await deps.db
      .selectFrom('refresh_sessions')
      .innerJoin('users', 'users.id', 'refresh_sessions.user_id')
      .select(['users.id', 'users.username', 'users.role'])
      .where('refresh_sessions.family_id', '=', claims.sid)
      .where('refresh_sessions.user_id', '=', claims.sub)
      .where('refresh_sessions.revoked_at', 'is', null)
      .where('refresh_sessions.expires_at', '>', sql<Date>`now()`)
      .where('users.is_active', '=', true)
      .executeTakeFirst();
    if (!alive) throw new AppError('unauthorized', 'The session has ended; sign in again', { reason: 'session_ended' });
    entry = entryOf(alive);
    await setJson(deps.cache, sessionKey(claims.sid), entry, SESSION_CACHE_TTL);
  }
  return {
    user: { id: entry.user_id, username: entry.username, role: entry.role },
    via: 'session',
    scopes: SCOPES,
    sessionId: claims.sid,
  };
}
