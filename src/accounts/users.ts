/**
 * Creating users: the account row with its quota and preference rows, in one
 * transaction. Registration decides the role: the first account on an empty
 * instance becomes admin (decided under a lock, so two racing first sign-ups
 * cannot both win); then REGISTRATION says who else may join.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { DB, User, UserRole } from '../infra/db/schema.js';
import { hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './passwords.js';
import { sha256Hex } from './secret-token.js';

export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{3,32}$/;
export const EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]{1,189}$/;
/**
 * One line of well-formed text, as a schema pattern (matched with the `u`
 * flag, as Ajv does): no control characters and no lone UTF-16 surrogates.
 * PostgreSQL refuses NUL in text and a lone surrogate in jsonb (the audit
 * details) — a 500 otherwise; and names and labels are one line anyway.
 */
export const SINGLE_LINE_PATTERN = '^[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]+$';
const SINGLE_LINE = new RegExp(SINGLE_LINE_PATTERN, 'u');
/** Serialises "is this the first user?" across processes. */
const FIRST_USER_LOCK = 0x79746268;

export interface NewUserInput {
  username: string;
  email: string;
  password: string;
  role?: UserRole;
  displayName?: string | null;
}

export type RegistrationMode = 'open' | 'invite' | 'closed';

export function validateNewUser(input: NewUserInput): void {
  const problems: string[] = [];
  if (!USERNAME_PATTERN.test(input.username)) problems.push('username: 3-32 letters, digits, _ . -');
  if (!EMAIL_PATTERN.test(input.email) || !SINGLE_LINE.test(input.email) || input.email.length > 254) {
    problems.push('email: not an email address');
  }
  if (input.displayName != null && !SINGLE_LINE.test(input.displayName)) {
    problems.push('display_name: one line without control characters');
  }
  if (input.password.length < MIN_PASSWORD_LENGTH || input.password.length > MAX_PASSWORD_LENGTH) {
    problems.push(`password: ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters`);
  }
  if (problems.length) throw new AppError('validation_failed', problems.join('; '), { issues: problems });
}

async function insertUser(trx: Transaction<DB>, input: NewUserInput, passwordHash: string, role: UserRole) {
  const user = await trx
    .insertInto('users')
    .values({
      username: input.username,
      email: input.email.toLowerCase(),
      password_hash: passwordHash,
      role,
      display_name: input.displayName ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx.insertInto('user_quotas').values({ user_id: user.id }).execute();
  await trx.insertInto('user_preferences').values({ user_id: user.id }).execute();
  return user;
}

function duplicate(err: unknown): never {
  if ((err as { code?: string }).code === '23505') {
    throw new AppError('conflict', 'A user with that username or email already exists');
  }
  throw err;
}

export async function createUser(db: Kysely<DB>, input: NewUserInput): Promise<User> {
  validateNewUser(input);
  const passwordHash = await hashPassword(input.password);
  try {
    return await db.transaction().execute((trx) => insertUser(trx, input, passwordHash, input.role ?? 'user'));
  } catch (err) {
    duplicate(err);
  }
}

export async function hasUsers(db: Kysely<DB>): Promise<boolean> {
  const row = await db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  return Boolean(row);
}

/**
 * Self-service sign-up. Returns the new user; `first` is true when it became
 * the instance's admin.
 */
export async function registerUser(
  db: Kysely<DB>,
  input: NewUserInput & { inviteCode?: string },
  mode: RegistrationMode,
): Promise<{ user: User; first: boolean }> {
  validateNewUser(input);
  const passwordHash = await hashPassword(input.password);
  try {
    return await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${FIRST_USER_LOCK})`.execute(trx);
      const first = !(await trx.selectFrom('users').select('id').limit(1).executeTakeFirst());
      if (first) return { user: await insertUser(trx, input, passwordHash, 'admin'), first };
      if (mode === 'closed') throw new AppError('forbidden', 'Registration is closed: ask an admin for an account');
      if (mode === 'open') return { user: await insertUser(trx, input, passwordHash, 'user'), first };
      if (!input.inviteCode)
        throw new AppError('forbidden', 'Registration needs an invite code', { reason: 'invite_required' });
      const invite = await trx
        .updateTable('user_invites')
        .set({ used_at: new Date() })
        .where('code_hash', '=', sha256Hex(input.inviteCode))
        .where('used_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())]))
        .returning(['id', 'role'])
        .executeTakeFirst();
      if (!invite)
        throw new AppError('forbidden', 'The invite code is invalid, used or expired', { reason: 'invite_invalid' });
      const user = await insertUser(trx, input, passwordHash, invite.role);
      await trx.updateTable('user_invites').set({ used_by: user.id }).where('id', '=', invite.id).execute();
      return { user, first };
    });
  } catch (err) {
    duplicate(err);
  }
}

/** A user by username or email (case-insensitive). */
export async function findUserByLogin(db: Kysely<DB>, login: string): Promise<User | undefined> {
  const lowered = login.toLowerCase();
  return db
    .selectFrom('users')
    .selectAll()
    .where((eb) => eb.or([eb(sql`lower(username)`, '=', lowered), eb(sql`lower(email)`, '=', lowered)]))
    .executeTakeFirst();
}

/** The public shape of a user. */
export function userView(u: User) {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    display_name: u.display_name,
    role: u.role,
    is_active: u.is_active,
    created_at: u.created_at.toISOString(),
    last_login_at: u.last_login_at ? u.last_login_at.toISOString() : null,
  };
}
