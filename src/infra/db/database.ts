/**
 * The database port: Kysely over PGlite (embedded default) or over a pg pool
 * (DATABASE_URL). Both run the same SQL and the same migrations.
 */
import { mkdirSync } from 'node:fs';
import { Kysely, Migrator, PostgresDialect, sql, type MigrationResultSet } from 'kysely';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { PGliteDialect } from './pglite-dialect.js';
import { migrations } from './migrations/index.js';
import type { DB } from './schema.js';

export type DatabaseKind = 'pglite' | 'postgres';

export interface Database {
  readonly kind: DatabaseKind;
  readonly db: Kysely<DB>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

// Same value shapes from both backends: int8 as number (byte counts stay far
// below 2^53), date as 'YYYY-MM-DD' text rather than a local-midnight Date.
const INT8_OID = 20;
const DATE_OID = 1082;
pg.types.setTypeParser(INT8_OID, (v) => Number(v));
pg.types.setTypeParser(DATE_OID, (v) => v);

export interface DatabaseOptions {
  /** postgres://... ; unset → PGlite */
  url?: string | undefined;
  /** PGlite data directory, or 'memory://' */
  pgliteDir?: string;
  poolSize?: number;
  /**
   * A pooled connection that failed while idle (server restart, admin termination). pg drops it and
   * the next query opens a new one; without a listener the error would crash the process.
   */
  onIdleError?: (err: Error) => void;
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  if (opts.url) {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10 });
    pool.on('error', (err) => opts.onIdleError?.(err));
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return wrap('postgres', db);
  }
  const dir = opts.pgliteDir ?? 'memory://';
  if (!dir.startsWith('memory://')) mkdirSync(dir, { recursive: true });
  const client = await PGlite.create({
    dataDir: dir,
    parsers: { [INT8_OID]: (v: string) => Number(v), [DATE_OID]: (v: string) => v },
  });
  const db = new Kysely<DB>({ dialect: new PGliteDialect(client) });
  return wrap('pglite', db);
}

function wrap(kind: DatabaseKind, db: Kysely<DB>): Database {
  return {
    kind,
    db,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}

/**
 * Applies pending migrations. Kysely's Postgres adapter takes a session-level
 * advisory lock around the run, so processes starting together serialise here.
 */
export async function migrateToLatest(database: Database): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db: database.db,
    provider: { getMigrations: async () => migrations },
  });
  const result = await migrator.migrateToLatest();
  if (result.error) throw result.error;
  return result;
}
