/**
 * Every encrypted column, in one list, and the re-encryption that key
 * rotation runs over them. A new encrypted column is added to
 * ENCRYPTED_COLUMNS once: its writer takes the context from here and
 * `ytbh keys rotate` covers it from then on.
 *
 * Re-encryption is safe to stop and rerun: rows are read in key order a
 * batch at a time, each batch is written in one transaction, rows already on
 * the current key are left alone, and a row is only overwritten if it still
 * holds the value that was decrypted (a concurrent writer wins).
 */
import { sql, type Kysely, type QueryResult, type RawBuilder } from 'kysely';
import type { DB } from '../infra/db/schema.js';
import { FieldCipher } from '../infra/crypto/field-cipher.js';
import { audit } from './audit.js';

export interface EncryptedColumn {
  /** `table.column`, as reports name it */
  readonly name: string;
  readonly table: keyof DB;
  readonly column: string;
  /** the primary key column; its value is bound into the context */
  readonly key: string;
  /** associated data: a value copied into another row (or column) does not decrypt */
  context(key: string): string;
}

export const ENCRYPTED_COLUMNS = {
  webhookUrl: {
    name: 'user_preferences.webhook_url_enc',
    table: 'user_preferences',
    column: 'webhook_url_enc',
    key: 'user_id',
    context: (userId: string) => `user_preferences.webhook_url:${userId}`,
  },
  platformCookies: {
    name: 'platform_cookies.cookies_enc',
    table: 'platform_cookies',
    column: 'cookies_enc',
    key: 'platform',
    context: (platform: string) => `platform_cookies:${platform}`,
  },
} as const satisfies Record<string, EncryptedColumn>;

export interface RowFailure {
  key: string;
  error: string;
}

export interface ColumnReport {
  column: string;
  /** rows with a value */
  rows: number;
  /** re-encrypted with the current key (dry run: would be) */
  reencrypted: number;
  /** already on the current key */
  current: number;
  /** changed by someone else between read and write; a rerun picks them up */
  skipped: number;
  /** could not be decrypted with any known key: left as they are */
  failed: RowFailure[];
}

export interface RotationReport {
  key_id: string;
  dry_run: boolean;
  columns: ColumnReport[];
}

export interface RotationOptions {
  dryRun?: boolean;
  batchSize?: number;
  /** Columns to cover (tests); default every one. */
  columns?: readonly EncryptedColumn[];
}

interface Row {
  k: string;
  v: string;
}

async function reencryptColumn(
  db: Kysely<DB>,
  cipher: FieldCipher,
  col: EncryptedColumn,
  dryRun: boolean,
  batchSize: number,
): Promise<ColumnReport> {
  const report: ColumnReport = { column: col.name, rows: 0, reencrypted: 0, current: 0, skipped: 0, failed: [] };
  const table = sql.table(col.table);
  const key = sql.ref(col.key);
  const value = sql.ref(col.column);
  let last: string | null = null;
  for (;;) {
    const after: RawBuilder<unknown> = last === null ? sql`` : sql`and ${key} > ${last}`;
    const { rows }: QueryResult<Row> = await sql<Row>`
      select ${key}::text as k, ${value} as v from ${table}
      where ${value} is not null ${after}
      order by ${key} limit ${batchSize}`.execute(db);
    if (!rows.length) break;
    last = rows[rows.length - 1]!.k;
    report.rows += rows.length;

    const updates: { k: string; old: string; next: string }[] = [];
    for (const row of rows) {
      if (!cipher.needsRotation(row.v)) {
        report.current++;
        continue;
      }
      const context = col.context(row.k);
      try {
        updates.push({ k: row.k, old: row.v, next: cipher.encrypt(cipher.decrypt(row.v, context), context) });
      } catch (err) {
        report.failed.push({ key: row.k, error: (err as Error).message });
      }
    }
    if (dryRun) {
      report.reencrypted += updates.length;
    } else if (updates.length) {
      await db.transaction().execute(async (trx) => {
        for (const u of updates) {
          const res = await sql`
            update ${table} set ${value} = ${u.next}
            where ${key} = ${u.k} and ${value} = ${u.old}`.execute(trx);
          if (Number(res.numAffectedRows ?? 0) === 1) report.reencrypted++;
          else report.skipped++;
        }
      });
    }
    if (rows.length < batchSize) break;
  }
  return report;
}

/** Re-encrypts every encrypted column with the cipher's current (first) key; audits a real run. */
export async function reencryptAll(
  db: Kysely<DB>,
  cipher: FieldCipher,
  opts: RotationOptions = {},
): Promise<RotationReport> {
  const dryRun = opts.dryRun === true;
  const columns = opts.columns ?? Object.values(ENCRYPTED_COLUMNS);
  const reports: ColumnReport[] = [];
  for (const col of columns) reports.push(await reencryptColumn(db, cipher, col, dryRun, opts.batchSize ?? 500));
  const report: RotationReport = { key_id: cipher.currentKeyId, dry_run: dryRun, columns: reports };
  if (!dryRun) {
    await audit(db, {
      actorId: null,
      action: 'admin.keys_rotated',
      targetType: 'encryption_key',
      targetId: cipher.currentKeyId,
      details: {
        columns: reports.map((r) => ({
          column: r.column,
          reencrypted: r.reencrypted,
          current: r.current,
          skipped: r.skipped,
          failed: r.failed.length,
        })),
      },
    });
  }
  return report;
}

export function failureCount(report: RotationReport): number {
  return report.columns.reduce((n, c) => n + c.failed.length, 0);
}
