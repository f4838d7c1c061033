/** The accounts domain's public surface for routes and the CLI. */
import type { Services } from '../app/services.js';
import type { AccountsDeps } from './deps.js';

export function accountsDeps(services: Pick<Services, 'database' | 'cache' | 'secrets' | 'config'>): AccountsDeps {
  return {
    db: services.database.db,
    cache: services.cache,
    jwtSecret: services.secrets.jwtSecret,
    accessTokenTtl: services.config.accessTokenTtl,
    refreshTokenTtl: services.config.refreshTokenTtl,
  };
}
