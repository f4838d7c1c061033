/** What the accounts functions need from the service container. */
import type { Kysely } from 'kysely';
import type { Cache } from '../infra/cache/index.js';
import type { DB } from '../infra/db/schema.js';

export interface AccountsDeps {
  db: Kysely<DB>;
  cache: Cache;
  jwtSecret: string;
  accessTokenTtl: number;
  refreshTokenTtl: number;
}

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}
