/**
 * What admins do to accounts: find and change users (never leaving the
 * instance without an active admin), set per-user quota overrides and the
 * role defaults, mint invitation codes, and read the audit log. Each change
 * returns its before/after so the route can audit it.
 */
import { sql, type Kysely } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { DB, User, UserRole } from '../infra/db/schema.js';
import { LIMIT_COLUMNS, QUOTA_KINDS, type LimitColumn, type LimitOverrides } from './quotas.js';
import { randomToken, sha256Hex } from './secret-token.js';
import { afterCursor, pageOf } from '../infra/db/cursor.js';

/** Serialises changes that could remove the last active admin (two admins demoting each other at once). */
const ADMIN_CHANGE_LOCK = 0x79746269;
export const MAX_PAGE = 100;

// ---------------------------------------------------------------------------
// Cursors: opaque `created_at|id` (users, invites) or an audit row id.

/** `%`, `_` and `\` in a search term match themselves, not any text. */
export function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

// ---------------------------------------------------------------------------
// Users

export interface UserFilter {
  q?: string;
  role?: UserRole;
  active?: boolean;
  limit: number;
  cursor?: string;
}

export async function listUsers(db: Kysely<DB>, f: UserFilter): Promise<{ items: User[]; next_cursor: string | null }> {
  const limit = Math.min(Math.max(1, f.limit), MAX_PAGE);
  let q = db
    .selectFrom('users')
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (f.q) {
    const pattern = likePattern(f.q);
    q = q.where(
      (eb) =>
        sql<boolean>`(${eb.ref('username')} ilike ${pattern} escape '\\' or ${eb.ref('email')} ilike ${pattern} escape '\\')`,
    );
  }
  if (f.role) q = q.where('role', '=', f.role);
  if (f.active !== undefined) q = q.where('is_active', '=', f.active);
  return pageOf(await afterCursor(q, f.cursor).execute(), limit);
}

export async function getUser(db: Kysely<DB>, id: string): Promise<User> {
  const user = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  if (!user) throw new AppError('not_found', 'No such user');
  return user;
}

export interface UserChange {
  role?: UserRole;
  is_active?: boolean;
  display_name?: string | null;
}

export interface UserChangeResult {
  before: User;
  after: User;
  roleChanged: boolean;
  disabled: boolean;
}

/** Refuses (409) to demote or disable the last active admin. */
export async function updateUser(db: Kysely<DB>, id: string, change: UserChange): Promise<UserChangeResult> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${ADMIN_CHANGE_LOCK})`.execute(trx);
    const before = await trx.selectFrom('users').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!before) throw new AppError('not_found', 'No such user');
    const staysAdmin = (change.role ?? before.role) === 'admin' && (change.is_active ?? before.is_active);
    if (before.role === 'admin' && before.is_active && !staysAdmin) {
      const others = await trx
        .selectFrom('users')
        .select(sql<number>`count(*)::int`.as('n'))
        .where('role', '=', 'admin')
        .where('is_active', '=', true)
        .where('id', '<>', id)
        .executeTakeFirstOrThrow();
      if (Number(others.n) === 0) {
        throw new AppError('conflict', 'This is the last active admin: make another admin first', {
          reason: 'last_admin',
        });
      }
    }
    const set: Partial<Pick<User, 'role' | 'is_active' | 'display_name'>> = {};
    if (change.role !== undefined) set.role = change.role;
    if (change.is_active !== undefined) set.is_active = change.is_active;
    if (change.display_name !== undefined) set.display_name = change.display_name;
    const after = await trx
      .updateTable('users')
      .set({ ...set, updated_at: new Date() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return {
      before,
      after,
      roleChanged: before.role !== after.role,
      disabled: before.is_active && !after.is_active,
    };
  });
}

// ---------------------------------------------------------------------------
// Quotas

function overridesOf(row: Record<LimitColumn, number | null>): LimitOverrides {
  const out = {} as LimitOverrides;
  for (const kind of QUOTA_KINDS) out[LIMIT_COLUMNS[kind]] = row[LIMIT_COLUMNS[kind]];
  return out;
}

/** Sets a user's own limits; null goes back to the role's default. Fields left out keep their value. */
export async function setUserQuota(
  db: Kysely<DB>,
  userId: string,
  change: Partial<LimitOverrides>,
): Promise<{ before: LimitOverrides; after: LimitOverrides }> {
  return db.transaction().execute(async (trx) => {
    await getUser(trx, userId);
    await trx
      .insertInto('user_quotas')
      .values({ user_id: userId })
      .onConflict((oc) => oc.column('user_id').doNothing())
      .execute();
    const row = await trx
      .selectFrom('user_quotas')
      .selectAll()
      .where('user_id', '=', userId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const updated = await trx
      .updateTable('user_quotas')
      .set({ ...change, updated_at: new Date() })
      .where('user_id', '=', userId)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { before: overridesOf(row), after: overridesOf(updated) };
  });
}

export interface RoleDefaults {
  role: UserRole;
  daily_limit: number;
  monthly_limit: number;
  storage_limit_bytes: number;
  concurrent_limit: number;
  updated_at: Date;
}

const ROLE_ORDER: Record<UserRole, number> = { admin: 0, user: 1, guest: 2 };

export async function listRoleDefaults(db: Kysely<DB>): Promise<RoleDefaults[]> {
  const rows = await db.selectFrom('role_quota_defaults').selectAll().execute();
  return rows.sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role]);
}

export async function setRoleDefaults(
  db: Kysely<DB>,
  role: UserRole,
  change: Partial<Record<LimitColumn, number>>,
): Promise<{ before: RoleDefaults; after: RoleDefaults }> {
  return db.transaction().execute(async (trx) => {
    const before = await trx
      .selectFrom('role_quota_defaults')
      .selectAll()
      .where('role', '=', role)
      .forUpdate()
      .executeTakeFirst();
    if (!before) throw new AppError('not_found', `No quota defaults for role ${role}`);
    const after = await trx
      .updateTable('role_quota_defaults')
      .set({ ...change, updated_at: new Date() })
      .where('role', '=', role)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { before, after };
  });
}

// ---------------------------------------------------------------------------
// Invites

export const DEFAULT_INVITE_HOURS = 7 * 24;

export interface Invite {
  id: string;
  role: UserRole;
  created_by: string | null;
  expires_at: Date | null;
  used_by: string | null;
  used_at: Date | null;
  created_at: Date;
}

export function inviteStatus(i: Invite, now = Date.now()): 'active' | 'used' | 'expired' {
  if (i.used_at) return 'used';
  if (i.expires_at && i.expires_at.getTime() <= now) return 'expired';
  return 'active';
}

/** A new code, returned once; only its SHA-256 is stored (registerUser looks it up by hash). */
export async function createInvite(
  db: Kysely<DB>,
  createdBy: string,
  input: { role?: UserRole; expiresInHours?: number | null },
): Promise<{ invite: Invite; code: string }> {
  const code = `inv_${randomToken(24)}`;
  const hours = input.expiresInHours === undefined ? DEFAULT_INVITE_HOURS : input.expiresInHours;
  const invite = await db
    .insertInto('user_invites')
    .values({
      code_hash: sha256Hex(code),
      role: input.role ?? 'user',
      created_by: createdBy,
      expires_at: hours === null ? null : new Date(Date.now() + hours * 3600_000),
    })
    .returning(['id', 'role', 'created_by', 'expires_at', 'used_by', 'used_at', 'created_at'])
    .executeTakeFirstOrThrow();
  return { invite, code };
}

export async function listInvites(
  db: Kysely<DB>,
  f: { limit: number; cursor?: string },
): Promise<{ items: Invite[]; next_cursor: string | null }> {
  const limit = Math.min(Math.max(1, f.limit), MAX_PAGE);
  const q = db
    .selectFrom('user_invites')
    .select(['id', 'role', 'created_by', 'expires_at', 'used_by', 'used_at', 'created_at'])
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1);
  return pageOf(await afterCursor(q, f.cursor).execute(), limit);
}

// ---------------------------------------------------------------------------
// Audit log

export interface AuditFilter {
  actorId?: string;
  action?: string;
  targetId?: string;
  since?: Date;
  until?: Date;
  limit: number;
  cursor?: string;
}

export interface AuditRow {
  id: number;
  actor_id: string | null;
  actor_username: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  details: Record<string, unknown>;
  created_at: Date;
}

/** Newest first; the cursor is the id of the last row seen (ids grow with time). */
export async function listAudit(
  db: Kysely<DB>,
  f: AuditFilter,
): Promise<{ items: AuditRow[]; next_cursor: string | null }> {
  const limit = Math.min(Math.max(1, f.limit), MAX_PAGE);
  let q = db
    .selectFrom('audit_log')
    .leftJoin('users', 'users.id', 'audit_log.actor_id')
    .select([
      'audit_log.id',
      'audit_log.actor_id',
      'users.username as actor_username',
      'audit_log.action',
      'audit_log.target_type',
      'audit_log.target_id',
      'audit_log.ip',
      'audit_log.details',
      'audit_log.created_at',
    ])
    .orderBy('audit_log.id', 'desc')
    .limit(limit + 1);
  if (f.actorId) q = q.where('audit_log.actor_id', '=', f.actorId);
  if (f.action) q = q.where('audit_log.action', '=', f.action);
  if (f.targetId) q = q.where('audit_log.target_id', '=', f.targetId);
  if (f.since) q = q.where('audit_log.created_at', '>=', f.since);
  if (f.until) q = q.where('audit_log.created_at', '<', f.until);
  if (f.cursor) {
    if (!/^\d{1,18}$/.test(f.cursor)) throw new AppError('validation_failed', 'Invalid cursor');
    q = q.where('audit_log.id', '<', Number(f.cursor));
  }
  const rows = await q.execute();
  const items = rows.slice(0, limit).map((r) => ({ ...r, id: Number(r.id) }));
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? String(last.id) : null };
}
