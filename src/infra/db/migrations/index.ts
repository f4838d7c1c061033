/** Migrations in order; names are recorded in kysely_migration, never rename one. */
import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_task_idempotency.js';
import * as m0003 from './0003_accounts.js';
import * as m0004 from './0004_task_thumbnail.js';

export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_task_idempotency': m0002,
  '0003_accounts': m0003,
  '0004_task_thumbnail': m0004,
};
