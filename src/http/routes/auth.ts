/** Sign-up, sign-in, token refresh and sign-out (accounts/sessions.ts holds the rules). */
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ApiRoutes } from '../app.js';
import { AppError } from '../../errors/app-error.js';
import { accountsDeps } from '../../accounts/index.js';
import { findUserByLogin, hasUsers, registerUser, SINGLE_LINE_PATTERN, userView } from '../../accounts/users.js';
import { hashPassword, verifyPassword } from '../../accounts/passwords.js';
import { randomToken } from '../../accounts/secret-token.js';
import { revokeFamily, rotateSession, startSession } from '../../accounts/sessions.js';
import { assertLoginAllowed, recordLoginFailure, recordLoginSuccess } from '../../accounts/login-throttle.js';
import { audit } from '../../accounts/audit.js';
import type { ClientInfo } from '../../accounts/deps.js';
import { errorResponses } from '../schemas/common.js';
import { Email, Password, TokenPairSchema, Username, UserSchema } from '../schemas/account.js';

/** Verified against when the account does not exist, so timing does not tell which names are taken. */
let dummyHash: Promise<string> | undefined;
const dummy = () => (dummyHash ??= hashPassword(randomToken()));

function client(req: FastifyRequest): ClientInfo {
  const ua = req.headers['user-agent'];
  return { ip: req.ip ?? null, userAgent: typeof ua === 'string' ? ua : null };
}

export const authRoutes: ApiRoutes = async (app, services) => {
  const deps = accountsDeps(services);
  const db = deps.db;

  app.get(
    '/api/v2/auth/status',
    {
      schema: {
        tags: ['auth'],
        summary: 'Whether the instance still needs its first (admin) account, and who may register',
        response: {
          200: Type.Object({
            setup_required: Type.Boolean(),
            registration: Type.Union([Type.Literal('open'), Type.Literal('invite'), Type.Literal('closed')]),
            user: Type.Union([Type.Ref(UserSchema), Type.Null()]),
          }),
        },
      },
    },
    async (req) => {
      const user = req.principal
        ? await db.selectFrom('users').selectAll().where('id', '=', req.principal.user.id).executeTakeFirst()
        : undefined;
      return {
        setup_required: !(await hasUsers(db)),
        registration: services.config.registration,
        user: user ? userView(user) : null,
      };
    },
  );

  app.post(
    '/api/v2/auth/register',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an account (the first one on an empty instance becomes admin) and sign in',
        body: Type.Object(
          {
            username: Username,
            email: Email,
            password: Password,
            display_name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: SINGLE_LINE_PATTERN })),
            invite_code: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Ref(TokenPairSchema), ...errorResponses(400, 403, 409, 413, 415, 429) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const { user, first } = await registerUser(
        db,
        {
          username: b.username,
          email: b.email,
          password: b.password,
          displayName: b.display_name ?? null,
          ...(b.invite_code ? { inviteCode: b.invite_code } : {}),
        },
        services.config.registration,
      );
      await audit(db, {
        actorId: user.id,
        action: 'auth.register',
        targetType: 'user',
        targetId: user.id,
        ip: req.ip,
        details: { role: user.role, first, mode: services.config.registration },
      });
      const pair = await startSession(deps, user, client(req));
      return reply.status(201).send({ ...pair, user: userView(user) });
    },
  );

  app.post(
    '/api/v2/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign in with username or email and password',
        body: Type.Object(
          {
            login: Type.String({
              minLength: 1,
              maxLength: 254,
              pattern: SINGLE_LINE_PATTERN,
              description: 'username or email',
            }),
            password: Type.String({ minLength: 1, maxLength: 256 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref(TokenPairSchema), ...errorResponses(400, 401, 413, 415, 429) },
      },
    },
    async (req) => {
      const { login, password } = req.body;
      const user = await findUserByLogin(db, login);
      // Counted per account, so alternating username and email shares one counter.
      const account = user?.id ?? login;
      await assertLoginAllowed(services.cache, req.ip, account);
      const ok = await verifyPassword(user?.password_hash ?? (await dummy()), password);
      if (!user || !ok || !user.is_active) {
        await recordLoginFailure(services.cache, req.ip, account);
        await audit(db, {
          actorId: user?.id ?? null,
          action: 'auth.login_failed',
          targetType: 'user',
          targetId: user?.id ?? null,
          ip: req.ip,
          details: { login: login.slice(0, 254), reason: !user ? 'unknown_user' : !ok ? 'bad_password' : 'disabled' },
        });
        // One message for all three, so the answer does not reveal which accounts exist.
        throw new AppError('unauthorized', 'Wrong username/email or password, or the account is disabled');
      }
      await recordLoginSuccess(services.cache, account);
      const updated = await db
        .updateTable('users')
        .set({ last_login_at: new Date() })
        .where('id', '=', user.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await audit(db, { actorId: user.id, action: 'auth.login', targetType: 'user', targetId: user.id, ip: req.ip });
      const pair = await startSession(deps, updated, client(req));
      return { ...pair, user: userView(updated) };
    },
  );

  app.post(
    '/api/v2/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for a new token pair (the old refresh token stops working)',
        body: Type.Object(
          { refresh_token: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref(TokenPairSchema), ...errorResponses(400, 401, 413, 415, 429) },
      },
    },
    async (req) => {
      const { pair, user } = await rotateSession(deps, req.body.refresh_token, client(req));
      return { ...pair, user: userView(user) };
    },
  );

  app.post(
    '/api/v2/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'End the current session (every device using it is signed out at once)',
        response: { 204: Type.Null(), ...errorResponses(401, 403) },
      },
    },
    async (req, reply) => {
      const p = req.principal!;
      if (!p.sessionId) throw new AppError('forbidden', 'API keys have no session: revoke the key instead');
      await revokeFamily(deps, p.sessionId);
      await audit(db, {
        actorId: p.user.id,
        action: 'auth.logout',
        targetType: 'session',
        targetId: p.sessionId,
        ip: req.ip,
      });
      return reply.status(204).send(null);
    },
  );
};
