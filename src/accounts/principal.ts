/** Who is calling: a signed-in user (session or API key) or nobody. */
import type { UserRole } from '../infra/db/schema.js';

export const SCOPES = ['read', 'download', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  user: { id: string; username: string; role: UserRole };
  /** 'session': an access token from login; 'api_key': a key the user created. */
  via: 'session' | 'api_key';
  /** Sessions carry every scope; keys only those they were created with. */
  scopes: readonly Scope[];
  sessionId?: string;
  apiKeyId?: string;
}
