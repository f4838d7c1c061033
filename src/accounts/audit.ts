/** The audit log: append-only rows (a trigger refuses UPDATE and DELETE). */
import type { Kysely } from 'kysely';
import type { DB } from '../infra/db/schema.js';

export type AuditAction =
  | 'auth.register'
  | 'auth.login'
  | 'auth.login_failed'
  | 'auth.logout'
  | 'auth.refresh_reuse'
  | 'auth.password_changed'
  | 'account.updated'
  | 'account.preferences_updated'
  | 'api_key.created'
  | 'api_key.revoked'
  | 'invite.created'
  | 'admin.user_created'
  | 'admin.user_updated'
  | 'admin.quota_set'
  | 'admin.quota_defaults_set'
  | 'admin.sessions_revoked'
  | 'admin.api_key_revoked'
  | 'admin.cookies_set'
  | 'admin.cookies_deleted'
  | 'admin.keys_rotated'
  | 'authz.denied';

export interface AuditEntry {
  actorId: string | null;
  action: AuditAction;
  targetType?: string;
  targetId?: string | null;
  ip?: string | null;
  details?: Record<string, unknown>;
}

export async function audit(db: Kysely<DB>, e: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      actor_id: e.actorId,
      action: e.action,
      target_type: e.targetType ?? null,
      target_id: e.targetId ?? null,
      ip: e.ip ?? null,
      details: JSON.stringify(e.details ?? {}),
    })
    .execute();
}
