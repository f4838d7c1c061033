/** Creating users: the account row with its quota and preference rows, in one transaction. */
import type { Kysely } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { DB, User, UserRole } from '../infra/db/schema.js';
import { hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './passwords.js';

export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{3,32}$/;

export interface NewUserInput {
  username: string;
  email: string;
  password: string;
  role?: UserRole;
}

export function validateNewUser(input: NewUserInput): void {
  const problems: string[] = [];
  if (!USERNAME_PATTERN.test(input.username)) problems.push('username: 3-32 letters, digits, _ . -');
  if (!/^[^\s@]+@[^\s@]+$/.test(input.email) || input.email.length > 254) problems.push('email: not an email address');
  if (input.password.length < MIN_PASSWORD_LENGTH || input.password.length > MAX_PASSWORD_LENGTH) {
    problems.push(`password: ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters`);
  }
  if (problems.length) throw new AppError('validation_failed', problems.join('; '), { issues: problems });
}

export async function createUser(db: Kysely<DB>, input: NewUserInput): Promise<User> {
  validateNewUser(input);
  const password_hash = await hashPassword(input.password);
  try {
    return await db.transaction().execute(async (trx) => {
      const user = await trx
        .insertInto('users')
        .values({
          username: input.username,
          email: input.email.toLowerCase(),
          password_hash,
          role: input.role ?? 'user',
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx.insertInto('user_quotas').values({ user_id: user.id }).execute();
      await trx.insertInto('user_preferences').values({ user_id: user.id }).execute();
      return user;
    });
  } catch (err) {
    if ((err as { code?: string }).code === '23505') {
      throw new AppError('conflict', 'A user with that username or email already exists');
    }
    throw err;
  }
}
