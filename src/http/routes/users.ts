/** The signed-in user's own account: profile, password, quota and preferences. */
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ApiRoutes } from '../app.js';
import { AppError } from '../../errors/app-error.js';
import { EMAIL_PATTERN, userView } from '../../accounts/users.js';
import { accountsDeps } from '../../accounts/index.js';
import { audit } from '../../accounts/audit.js';
import { hashPassword, verifyPassword } from '../../accounts/passwords.js';
import { revokeUserSessions } from '../../accounts/sessions.js';
import { assertLoginAllowed, recordLoginFailure, recordLoginSuccess } from '../../accounts/login-throttle.js';
import { quotaSummary } from '../../accounts/quotas.js';
import { getPreferences, updatePreferences } from '../../accounts/preferences.js';
import type { User } from '../../infra/db/schema.js';
import { errorResponses } from '../schemas/common.js';
import {
  PasswordChangeBody,
  PreferencesSchema,
  PreferencesUpdateBody,
  QuotaSchema,
  UserSchema,
  UserUpdateBody,
} from '../schemas/account.js';

export const userRoutes: ApiRoutes = async (app, services) => {
  const deps = accountsDeps(services);
  const db = deps.db;
  // The gauge is read from the database at scrape time; api processes are the ones scraped for it.

  async function currentUser(req: FastifyRequest): Promise<User> {
    const user = await db.selectFrom('users').selectAll().where('id', '=', req.principal!.user.id).executeTakeFirst();
    if (!user) throw new AppError('unauthorized', 'The account no longer exists');
    return user;
  }

  /**
   * Re-authentication for sensitive changes. Wrong guesses count like failed
   * sign-ins, so a stolen session cannot be used to brute-force the password.
   */
  async function checkPassword(req: FastifyRequest, user: User, password: string): Promise<void> {
    await assertLoginAllowed(services.cache, req.ip, user.username);
    if (!(await verifyPassword(user.password_hash, password))) {
      await recordLoginFailure(services.cache, req.ip, user.username);
      throw new AppError('forbidden', 'The current password is wrong', { reason: 'wrong_password' });
    }
    await recordLoginSuccess(services.cache, user.username);
  }

  app.get(
    '/api/v2/users/me',
    {
      schema: {
        tags: ['account'],
        summary: 'Your account',
        response: {
          200: Type.Intersect([
            Type.Ref(UserSchema),
            Type.Object({
              auth: Type.Object({
                via: Type.Union([Type.Literal('session'), Type.Literal('api_key')]),
                scopes: Type.Array(Type.String()),
              }),
            }),
          ]),
          ...errorResponses(401),
        },
      },
    },
    async (req) => {
      const p = req.principal!;
      const user = await currentUser(req);
      return { ...userView(user), auth: { via: p.via, scopes: [...p.scopes] } };
    },
  );

  app.patch(
    '/api/v2/users/me',
    {
      schema: {
        tags: ['account'],
        summary: 'Change your display name or email (the email needs current_password)',
        body: UserUpdateBody,
        response: { 200: Type.Ref(UserSchema), ...errorResponses(400, 401, 403, 409, 413, 415, 429) },
      },
    },
    async (req) => {
      const b = req.body;
      const user = await currentUser(req);
      const set: Partial<Pick<User, 'display_name' | 'email'>> = {};
      if (b.display_name !== undefined) set.display_name = b.display_name;
      if (b.email !== undefined) {
        if (!EMAIL_PATTERN.test(b.email)) throw new AppError('validation_failed', 'email: not an email address');
        if (!b.current_password) {
          throw new AppError('validation_failed', 'Changing the email needs current_password', {
            issues: [{ path: '/current_password', message: 'required to change the email' }],
          });
        }
        await checkPassword(req, user, b.current_password);
        set.email = b.email.toLowerCase();
      }
      if (!Object.keys(set).length) return userView(user);
      const updated = await db
        .updateTable('users')
        .set({ ...set, updated_at: new Date() })
        .where('id', '=', user.id)
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch((err: unknown) => {
          if ((err as { code?: string }).code === '23505') {
            throw new AppError('conflict', 'Another account uses that email');
          }
          throw err;
        });
      const fields = Object.keys(set) as (keyof typeof set)[];
      await audit(db, {
        actorId: user.id,
        action: 'account.updated',
        targetType: 'user',
        targetId: user.id,
        ip: req.ip,
        details: {
          before: Object.fromEntries(fields.map((k) => [k, user[k]])),
          after: Object.fromEntries(fields.map((k) => [k, updated[k]])),
        },
      });
      return userView(updated);
    },
  );

  app.post(
    '/api/v2/users/me/password',
    {
      schema: {
        tags: ['account'],
        summary: 'Change your password; every other session is signed out',
        body: PasswordChangeBody,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 413, 415, 429) },
      },
    },
    async (req, reply) => {
      const p = req.principal!;
      const user = await currentUser(req);
      await checkPassword(req, user, req.body.current_password);
      if (req.body.new_password === req.body.current_password) {
        throw new AppError('validation_failed', 'The new password must differ from the current one');
      }
      const now = new Date();
      await db
        .updateTable('users')
        .set({ password_hash: await hashPassword(req.body.new_password), password_changed_at: now, updated_at: now })
        .where('id', '=', user.id)
        .execute();
      const revoked = await revokeUserSessions(deps, user.id, p.sessionId);
      await audit(db, {
        actorId: user.id,
        action: 'auth.password_changed',
        targetType: 'user',
        targetId: user.id,
        ip: req.ip,
        details: { other_sessions_revoked: revoked },
      });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v2/users/me/quota',
    {
      schema: {
        tags: ['account'],
        summary:
          'Your download quotas: effective limits, usage, reset times, and whether each limit is yours or your role’s',
        response: { 200: Type.Ref(QuotaSchema), ...errorResponses(401, 403) },
      },
    },
    async (req) => quotaSummary(db, req.principal!.user.id),
  );

  app.get(
    '/api/v2/users/me/preferences',
    {
      schema: {
        tags: ['account'],
        summary: 'Your preferences (download defaults, notifications, UI)',
        response: { 200: Type.Ref(PreferencesSchema), ...errorResponses(401, 403) },
      },
    },
    async (req) => getPreferences({ db, cipher: services.cipher }, req.principal!.user.id),
  );

  app.put(
    '/api/v2/users/me/preferences',
    {
      schema: {
        tags: ['account'],
        summary: 'Change some of your preferences (fields left out keep their values)',
        body: PreferencesUpdateBody,
        response: { 200: Type.Ref(PreferencesSchema), ...errorResponses(400, 401, 403, 413, 415) },
      },
    },
    async (req) => {
      const userId = req.principal!.user.id;
      const after = await updatePreferences(
        { db, cipher: services.cipher, allowPrivateAddresses: services.config.allowPrivateAddresses },
        userId,
        req.body,
      );
      await audit(db, {
        actorId: userId,
        action: 'account.preferences_updated',
        targetType: 'user',
        targetId: userId,
        ip: req.ip,
        // Names only: the webhook URL is a secret of its owner's.
        details: { fields: Object.keys(req.body).sort() },
      });
      return after;
    },
  );
};
