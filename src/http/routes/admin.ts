/**
 * Admin API: users, roles, quotas, sessions, keys, invites and the audit log.
 * Every change is audited with the acting admin, the target, the client IP
 * and the values before and after.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ApiRoutes } from '../app.js';
import { accountsDeps } from '../../accounts/index.js';
import { audit, type AuditEntry } from '../../accounts/audit.js';
import { createUser, userView } from '../../accounts/users.js';
import { listApiKeys, revokeApiKey } from '../../accounts/api-keys.js';
import { refreshUserSessions, revokeUserSessions } from '../../accounts/sessions.js';
import { quotaSummary, type LimitColumn } from '../../accounts/quotas.js';
import {
  createInvite,
  getUser,
  inviteStatus,
  listAudit,
  listInvites,
  listRoleDefaults,
  listUsers,
  setRoleDefaults,
  setUserQuota,
  updateUser,
  type Invite,
  type RoleDefaults,
} from '../../accounts/admin.js';
import type { User, UserRole } from '../../infra/db/schema.js';
import { errorResponses } from '../schemas/common.js';
import {
  ApiKeySchema,
  DailyLimit,
  DisplayName,
  Email,
  Password,
  QuotaSchema,
  Role,
  StorageLimit,
  Username,
  UserSchema,
} from '../schemas/account.js';
import { apiKeyView } from './api-keys.js';

const Id = Type.Object({ id: Type.String({ format: 'uuid' }) });
const DateTime = Type.String({ format: 'date-time' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 }));
const Cursor = Type.Optional(Type.String({ minLength: 1, maxLength: 200 }));
const NextCursor = Type.Union([Type.String(), Type.Null()]);

const QuotaOverrides = Type.Object({
  daily_limit: Nullable(DailyLimit),
  monthly_limit: Nullable(DailyLimit),
  storage_limit_bytes: Nullable(StorageLimit),
  concurrent_limit: Nullable(DailyLimit),
});
const AdminUserDetail = Type.Intersect([
  Type.Ref(UserSchema),
  Type.Object({
    password_changed_at: Type.Union([DateTime, Type.Null()]),
    quota: Type.Ref(QuotaSchema),
    quota_overrides: QuotaOverrides,
  }),
]);
const RoleDefaultsSchema = Type.Object({
  role: Role,
  daily_limit: DailyLimit,
  monthly_limit: DailyLimit,
  storage_limit_bytes: StorageLimit,
  concurrent_limit: DailyLimit,
  updated_at: DateTime,
});
const InviteSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  role: Role,
  status: Type.Union([Type.Literal('active'), Type.Literal('used'), Type.Literal('expired')]),
  created_by: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  expires_at: Type.Union([DateTime, Type.Null()]),
  used_by: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  used_at: Type.Union([DateTime, Type.Null()]),
  created_at: DateTime,
});
const AuditEntrySchema = Type.Object({
  id: Type.String({ description: 'grows with time' }),
  actor_id: Type.Union([Type.String(), Type.Null()]),
  actor_username: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  target_type: Type.Union([Type.String(), Type.Null()]),
  target_id: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
  created_at: DateTime,
});

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function inviteView(i: Invite) {
  return {
    id: i.id,
    role: i.role,
    status: inviteStatus(i),
    created_by: i.created_by,
    expires_at: iso(i.expires_at),
    used_by: i.used_by,
    used_at: iso(i.used_at),
    created_at: i.created_at.toISOString(),
  };
}

function roleDefaultsView(r: RoleDefaults) {
  return { ...r, updated_at: r.updated_at.toISOString() };
}

/** The audited fields of a user, for before/after. */
function userState(u: User) {
  return { role: u.role, is_active: u.is_active, display_name: u.display_name };
}

export const adminRoutes: ApiRoutes = async (app, services) => {
  const deps = accountsDeps(services);
  const db = deps.db;

  const record = (req: FastifyRequest, e: Omit<AuditEntry, 'actorId' | 'ip'>) =>
    audit(db, { ...e, actorId: req.principal!.user.id, ip: req.ip });

  async function detail(user: User) {
    const [quota, overrides] = await Promise.all([
      quotaSummary(db, user.id),
      db
        .selectFrom('user_quotas')
        .select(['daily_limit', 'monthly_limit', 'storage_limit_bytes', 'concurrent_limit'])
        .where('user_id', '=', user.id)
        .executeTakeFirst(),
    ]);
    return {
      ...userView(user),
      password_changed_at: iso(user.password_changed_at),
      quota,
      quota_overrides: overrides ?? {
        daily_limit: null,
        monthly_limit: null,
        storage_limit_bytes: null,
        concurrent_limit: null,
      },
    };
  }

  app.get(
    '/api/v2/admin/users',
    {
      schema: {
        tags: ['admin'],
        summary: 'Find users (newest first): q matches username or email',
        querystring: Type.Object(
          {
            q: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
            role: Type.Optional(Role),
            active: Type.Optional(Type.Boolean()),
            limit: Limit,
            cursor: Cursor,
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(Type.Ref(UserSchema)), next_cursor: NextCursor }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (req) => {
      const q = req.query;
      const page = await listUsers(db, {
        limit: q.limit ?? 50,
        ...(q.q ? { q: q.q } : {}),
        ...(q.role ? { role: q.role } : {}),
        ...(q.active !== undefined ? { active: q.active } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      return { items: page.items.map(userView), next_cursor: page.next_cursor };
    },
  );

  app.post(
    '/api/v2/admin/users',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create an account with a role (works whatever REGISTRATION says)',
        body: Type.Object(
          {
            username: Username,
            email: Email,
            password: Password,
            role: Type.Optional(Role),
            display_name: Type.Optional(DisplayName),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Ref(UserSchema), ...errorResponses(400, 401, 403, 409, 413, 415) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const user = await createUser(db, {
        username: b.username,
        email: b.email,
        password: b.password,
        role: b.role ?? 'user',
        displayName: b.display_name ?? null,
      });
      await record(req, {
        action: 'admin.user_created',
        targetType: 'user',
        targetId: user.id,
        details: { after: { username: user.username, email: user.email, ...userState(user) } },
      });
      return reply.status(201).header('location', `/api/v2/admin/users/${user.id}`).send(userView(user));
    },
  );

  app.get(
    '/api/v2/admin/users/:id',
    {
      schema: {
        tags: ['admin'],
        summary: 'One user with their quota, usage and own limits',
        params: Id,
        response: { 200: AdminUserDetail, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => detail(await getUser(db, req.params.id)),
  );

  app.patch(
    '/api/v2/admin/users/:id',
    {
      schema: {
        tags: ['admin'],
        summary:
          'Change role, active state or display name (disabling signs the user out; the last active admin cannot be demoted or disabled)',
        params: Id,
        body: Type.Object(
          {
            role: Type.Optional(Role),
            is_active: Type.Optional(Type.Boolean()),
            display_name: Type.Optional(Nullable(DisplayName)),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: AdminUserDetail, ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
      },
    },
    async (req) => {
      const r = await updateUser(db, req.params.id, req.body);
      if (r.disabled) await revokeUserSessions(deps, r.after.id);
      // The role is cached per session: drop the entries so the next request reads it again.
      else if (r.roleChanged) await refreshUserSessions(deps, r.after.id);
      await record(req, {
        action: 'admin.user_updated',
        targetType: 'user',
        targetId: r.after.id,
        details: { before: userState(r.before), after: userState(r.after) },
      });
      return detail(r.after);
    },
  );

  app.put(
    '/api/v2/admin/users/:id/quota',
    {
      schema: {
        tags: ['admin'],
        summary: "Set a user's own limits (null: back to the role's default); fields left out keep their value",
        params: Id,
        body: Type.Partial(QuotaOverrides, { additionalProperties: false, minProperties: 1 }),
        response: { 200: AdminUserDetail, ...errorResponses(400, 401, 403, 404, 413, 415) },
      },
    },
    async (req) => {
      const { before, after } = await setUserQuota(db, req.params.id, req.body);
      await record(req, {
        action: 'admin.quota_set',
        targetType: 'user',
        targetId: req.params.id,
        details: { before, after },
      });
      return detail(await getUser(db, req.params.id));
    },
  );

  app.delete(
    '/api/v2/admin/users/:id/sessions',
    {
      schema: {
        tags: ['admin'],
        summary: 'Sign a user out everywhere (API keys stay valid: revoke them separately)',
        params: Id,
        response: {
          200: Type.Object({ revoked: Type.Integer({ minimum: 0 }) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (req) => {
      const user = await getUser(db, req.params.id);
      const revoked = await revokeUserSessions(deps, user.id);
      await record(req, {
        action: 'admin.sessions_revoked',
        targetType: 'user',
        targetId: user.id,
        details: { revoked },
      });
      return { revoked };
    },
  );

  app.get(
    '/api/v2/admin/users/:id/api-keys',
    {
      schema: {
        tags: ['admin'],
        summary: "A user's API keys (never their secrets)",
        params: Id,
        response: {
          200: Type.Object({ items: Type.Array(Type.Ref(ApiKeySchema)) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (req) => {
      const user = await getUser(db, req.params.id);
      return { items: (await listApiKeys(deps, user.id)).map(apiKeyView) };
    },
  );

  app.delete(
    '/api/v2/admin/api-keys/:id',
    {
      schema: {
        tags: ['admin'],
        summary: "Revoke anyone's API key (at once, on every api process)",
        params: Id,
        response: {
          200: Type.Intersect([Type.Ref(ApiKeySchema), Type.Object({ user_id: Type.String({ format: 'uuid' }) })]),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (req) => {
      const key = await revokeApiKey(deps, req.params.id, null);
      await record(req, {
        action: 'admin.api_key_revoked',
        targetType: 'api_key',
        targetId: key.id,
        details: { user_id: key.user_id, name: key.name, prefix: key.prefix },
      });
      return { ...apiKeyView(key), user_id: key.user_id };
    },
  );

  app.get(
    '/api/v2/admin/invites',
    {
      schema: {
        tags: ['admin'],
        summary: 'Invitation codes (newest first; the codes themselves are never shown again)',
        querystring: Type.Object({ limit: Limit, cursor: Cursor }, { additionalProperties: false }),
        response: {
          200: Type.Object({ items: Type.Array(InviteSchema), next_cursor: NextCursor }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (req) => {
      const page = await listInvites(db, {
        limit: req.query.limit ?? 50,
        ...(req.query.cursor ? { cursor: req.query.cursor } : {}),
      });
      return { items: page.items.map(inviteView), next_cursor: page.next_cursor };
    },
  );

  app.post(
    '/api/v2/admin/invites',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create an invitation code for REGISTRATION=invite; the response holds the code, shown this once',
        body: Type.Object(
          {
            role: Type.Optional(Role),
            expires_in_hours: Type.Optional(
              Nullable(Type.Integer({ minimum: 1, maximum: 8760, description: 'default 168 (7 days); null: never' })),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Intersect([InviteSchema, Type.Object({ code: Type.String({ description: 'shown once' }) })]),
          ...errorResponses(400, 401, 403, 413, 415),
        },
      },
    },
    async (req, reply) => {
      const actor = req.principal!.user.id;
      const { invite, code } = await createInvite(db, actor, {
        ...(req.body.role ? { role: req.body.role } : {}),
        ...(req.body.expires_in_hours !== undefined ? { expiresInHours: req.body.expires_in_hours } : {}),
      });
      await record(req, {
        action: 'invite.created',
        targetType: 'invite',
        targetId: invite.id,
        details: { after: { role: invite.role, expires_at: iso(invite.expires_at) } },
      });
      return reply.status(201).send({ ...inviteView(invite), code });
    },
  );

  app.get(
    '/api/v2/admin/audit',
    {
      schema: {
        tags: ['admin'],
        summary: 'The audit log, newest first',
        querystring: Type.Object(
          {
            actor_id: Type.Optional(Type.String({ format: 'uuid' })),
            action: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            target_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            since: Type.Optional(DateTime),
            until: Type.Optional(DateTime),
            limit: Limit,
            cursor: Cursor,
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(AuditEntrySchema), next_cursor: NextCursor }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (req) => {
      const q = req.query;
      const page = await listAudit(db, {
        limit: q.limit ?? 50,
        ...(q.actor_id ? { actorId: q.actor_id } : {}),
        ...(q.action ? { action: q.action } : {}),
        ...(q.target_id ? { targetId: q.target_id } : {}),
        ...(q.since ? { since: new Date(q.since) } : {}),
        ...(q.until ? { until: new Date(q.until) } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      return {
        items: page.items.map((e) => ({ ...e, id: String(e.id), created_at: e.created_at.toISOString() })),
        next_cursor: page.next_cursor,
      };
    },
  );

  app.get(
    '/api/v2/admin/quota-defaults',
    {
      schema: {
        tags: ['admin'],
        summary: "Each role's default limits (a user's own limits override them)",
        response: { 200: Type.Object({ items: Type.Array(RoleDefaultsSchema) }), ...errorResponses(401, 403) },
      },
    },
    async () => ({ items: (await listRoleDefaults(db)).map(roleDefaultsView) }),
  );

  app.put(
    '/api/v2/admin/quota-defaults/:role',
    {
      schema: {
        tags: ['admin'],
        summary: "Change a role's default limits; fields left out keep their value",
        params: Type.Object({ role: Role }),
        body: Type.Object(
          {
            daily_limit: Type.Optional(DailyLimit),
            monthly_limit: Type.Optional(DailyLimit),
            storage_limit_bytes: Type.Optional(StorageLimit),
            concurrent_limit: Type.Optional(DailyLimit),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: RoleDefaultsSchema, ...errorResponses(400, 401, 403, 404, 413, 415) },
      },
    },
    async (req) => {
      const role = req.params.role as UserRole;
      const { before, after } = await setRoleDefaults(db, role, req.body as Partial<Record<LimitColumn, number>>);
      const limits = ({ updated_at: _u, role: _r, ...rest }: RoleDefaults) => rest;
      await record(req, {
        action: 'admin.quota_defaults_set',
        targetType: 'role',
        targetId: role,
        details: { before: limits(before), after: limits(after) },
      });
      return roleDefaultsView(after);
    },
  );
};
