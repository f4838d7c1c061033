/** A user's own API keys: create (the secret is shown once), list, revoke. */
import { Type } from '@sinclair/typebox';
import type { ApiRoutes } from '../app.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../../accounts/api-keys.js';
import { audit } from '../../accounts/audit.js';
import { SINGLE_LINE_PATTERN } from '../../accounts/users.js';
import type { ApiKey } from '../../infra/db/schema.js';
import { errorResponses } from '../schemas/common.js';
import { ApiKeySchema, ScopeSchema } from '../schemas/account.js';
import type { Scope } from '../../accounts/principal.js';

export function apiKeyView(k: ApiKey) {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes as Scope[],
    expires_at: iso(k.expires_at),
    last_used_at: iso(k.last_used_at),
    revoked_at: iso(k.revoked_at),
    created_at: k.created_at.toISOString(),
  };
}

const KeyId = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const apiKeyRoutes: ApiRoutes = async (app, services) => {
  const db = services.database.db;

  app.get(
    '/api/v2/users/me/api-keys',
    {
      schema: {
        tags: ['account'],
        summary: 'Your API keys (never their secrets)',
        response: { 200: Type.Object({ items: Type.Array(Type.Ref(ApiKeySchema)) }), ...errorResponses(401, 403) },
      },
    },
    async (req) => ({ items: (await listApiKeys({ db }, req.principal!.user.id)).map(apiKeyView) }),
  );

  app.post(
    '/api/v2/users/me/api-keys',
    {
      schema: {
        tags: ['account'],
        summary: 'Create an API key; the response holds its secret, shown this once',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100, pattern: SINGLE_LINE_PATTERN }),
            scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: 3, uniqueItems: true }),
            expires_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Intersect([
            Type.Ref(ApiKeySchema),
            Type.Object({ key: Type.String({ description: 'the secret: send as X-API-Key or Bearer; shown once' }) }),
          ]),
          ...errorResponses(400, 401, 403, 409, 413, 415),
        },
      },
    },
    async (req, reply) => {
      const p = req.principal!;
      const { key, secret } = await createApiKey({ db }, p.user, {
        name: req.body.name,
        scopes: req.body.scopes as Scope[],
        expiresAt: req.body.expires_at ? new Date(req.body.expires_at) : null,
      });
      await audit(db, {
        actorId: p.user.id,
        action: 'api_key.created',
        targetType: 'api_key',
        targetId: key.id,
        ip: req.ip,
        details: { name: key.name, scopes: key.scopes, prefix: key.prefix },
      });
      return reply.status(201).send({ ...apiKeyView(key), key: secret });
    },
  );

  app.delete(
    '/api/v2/users/me/api-keys/:id',
    {
      schema: {
        tags: ['account'],
        summary: 'Revoke one of your API keys (at once, on every api process)',
        params: KeyId,
        response: { 200: Type.Ref(ApiKeySchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const p = req.principal!;
      const key = await revokeApiKey({ db }, req.params.id, p.user.id);
      await audit(db, {
        actorId: p.user.id,
        action: 'api_key.revoked',
        targetType: 'api_key',
        targetId: key.id,
        ip: req.ip,
      });
      return apiKeyView(key);
    },
  );
};
