/**
 * Download quotas. A user's limit is their own override (user_quotas, null =
 * none) or else their role's default (role_quota_defaults).
 *
 * - daily / monthly: tasks created per UTC day / calendar month. Counted when
 *   a task is created, inside the same transaction that inserts it, with the
 *   user's user_quotas row locked (SELECT … FOR UPDATE): two racing requests
 *   at the last slot cannot both pass, on one process or many. A request
 *   answered with an existing active task creates nothing and counts nothing.
 *   Playlist children count one each; the parent does not.
 * - storage: bytes of the user's completed downloads; creation is refused
 *   while they are at or over the limit.
 * - concurrent: enforced when a task is about to RUN, not when it is created
 *   (see admitRun): both queue adapters can put a job back with a delay, so a
 *   user's tasks beyond the limit simply wait in the queue instead of failing.
 */
import { sql, type Kysely } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { DB, UserRole } from '../infra/db/schema.js';
import { ACTIVE_STATUSES } from '../delivery/task-status.js';

export const QUOTA_KINDS = ['daily', 'monthly', 'storage', 'concurrent'] as const;
export type QuotaKind = (typeof QUOTA_KINDS)[number];
export type LimitSource = 'role' | 'user';

/** user_quotas / role_quota_defaults column of each quota. */
export const LIMIT_COLUMNS = {
  daily: 'daily_limit',
  monthly: 'monthly_limit',
  storage: 'storage_limit_bytes',
  concurrent: 'concurrent_limit',
} as const satisfies Record<QuotaKind, string>;

export type LimitColumn = (typeof LIMIT_COLUMNS)[QuotaKind];
export type LimitOverrides = Record<LimitColumn, number | null>;

export interface QuotaLine {
  limit: number;
  used: number;
  remaining: number;
  source: LimitSource;
  /** when `used` goes back to 0 (daily and monthly only) */
  resets_at: string | null;
}

export interface QuotaSummary {
  role: UserRole;
  daily: QuotaLine;
  monthly: QuotaLine;
  /** bytes of completed downloads */
  storage: QuotaLine;
  /** `used`: tasks running now */
  concurrent: QuotaLine;
  /** queued or running tasks (playlist parents excluded) */
  active_tasks: number;
}

export function nextUtcDay(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
}

export function nextUtcMonth(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

type QuotaRow = {
  daily_limit: number | null;
  monthly_limit: number | null;
  storage_limit_bytes: number | null;
  concurrent_limit: number | null;
  daily_used: number;
  monthly_used: number;
  daily_reset_at: Date;
  monthly_reset_at: Date;
};

interface Effective {
  role: UserRole;
  limit: Record<QuotaKind, number>;
  source: Record<QuotaKind, LimitSource>;
}

async function effectiveLimits(db: Kysely<DB>, userId: string, row: QuotaRow): Promise<Effective> {
  const d = await db
    .selectFrom('users')
    .leftJoin('role_quota_defaults', 'role_quota_defaults.role', 'users.role')
    .select([
      'users.role',
      'role_quota_defaults.daily_limit',
      'role_quota_defaults.monthly_limit',
      'role_quota_defaults.storage_limit_bytes',
      'role_quota_defaults.concurrent_limit',
    ])
    .where('users.id', '=', userId)
    .executeTakeFirst();
  if (!d) throw new AppError('not_found', 'No such user');
  const limit = {} as Record<QuotaKind, number>;
  const source = {} as Record<QuotaKind, LimitSource>;
  for (const kind of QUOTA_KINDS) {
    const col = LIMIT_COLUMNS[kind];
    const own = row[col];
    source[kind] = own === null ? 'role' : 'user';
    // A role without a defaults row gets nothing rather than everything.
    limit[kind] = Number(own ?? d[col] ?? 0);
  }
  return { role: d.role, limit, source };
}

/**
 * The current windows: counts stored with another window's end belong to a
 * past window and read as 0. (The column default marks the end in the
 * database's time zone; only unused rows carry it, since every count we
 * write stores the UTC boundary.)
 */
function rolled(row: QuotaRow, now: Date) {
  const day = nextUtcDay(now);
  const month = nextUtcMonth(now);
  return {
    daily_used: row.daily_reset_at.getTime() === day.getTime() ? row.daily_used : 0,
    monthly_used: row.monthly_reset_at.getTime() === month.getTime() ? row.monthly_used : 0,
    daily_reset_at: day,
    monthly_reset_at: month,
  };
}

/** Bytes of the user's completed downloads. */
export async function storageUsedBytes(db: Kysely<DB>, userId: string): Promise<number> {
  const r = await db
    .selectFrom('download_tasks')
    .select(sql<number>`coalesce(sum(file_size), 0)::float8`.as('bytes'))
    .where('user_id', '=', userId)
    .where('status', '=', 'completed')
    .executeTakeFirstOrThrow();
  return Number(r.bytes);
}

/** Playlist parents are bookkeeping, never work: they never count as active or running. */
const notParent = sql<boolean>`selected_formats -> 'playlist' is null`;

export interface SystemUsage {
  queue: { queued: number; running: number };
  storage: { used_bytes: number; files: number };
}

/**
 * Instance-wide queue depth and stored bytes, for admins. Counted in the
 * database, the source of truth, so it is right with either queue backend
 * and from any api process.
 */
export async function systemUsage(db: Kysely<DB>): Promise<SystemUsage> {
  const r = await db
    .selectFrom('download_tasks')
    .select([
      sql<number>`count(*) filter (where status = 'queued')::int`.as('queued'),
      sql<number>`count(*) filter (where status in ('extracting', 'downloading', 'processing'))::int`.as('running'),
      sql<number>`coalesce(sum(file_size) filter (where status = 'completed'), 0)::float8`.as('used_bytes'),
      sql<number>`count(file_path) filter (where status = 'completed')::int`.as('files'),
    ])
    .where(notParent)
    .executeTakeFirstOrThrow();
  return {
    queue: { queued: Number(r.queued), running: Number(r.running) },
    storage: { used_bytes: Number(r.used_bytes), files: Number(r.files) },
  };
}

/** Stored bytes per user, for the storage_usage_bytes gauge. */
export async function storageUsageByUser(db: Kysely<DB>): Promise<{ user_id: string; bytes: number }[]> {
  const rows = await db
    .selectFrom('download_tasks')
    .select(['user_id', sql<number>`sum(file_size)::float8`.as('bytes')])
    .where('status', '=', 'completed')
    .where('user_id', 'is not', null)
    .where('file_size', 'is not', null)
    .groupBy('user_id')
    .execute();
  return rows.map((r) => ({ user_id: r.user_id!, bytes: Number(r.bytes) }));
}

async function taskCounts(db: Kysely<DB>, userId: string, exceptTaskId?: string) {
  let q = db
    .selectFrom('download_tasks')
    .select([
      sql<number>`count(*)::int`.as('active'),
      sql<number>`count(*) filter (where status in ('extracting', 'downloading', 'processing'))::int`.as('running'),
    ])
    .where('user_id', '=', userId)
    .where('status', 'in', ACTIVE_STATUSES)
    .where(notParent);
  if (exceptTaskId) q = q.where('id', '<>', exceptTaskId);
  const r = await q.executeTakeFirstOrThrow();
  return { active: Number(r.active), running: Number(r.running) };
}

async function quotaRow(db: Kysely<DB>, userId: string, lock: boolean): Promise<QuotaRow> {
  const select = () => {
    const q = db.selectFrom('user_quotas').selectAll().where('user_id', '=', userId);
    return (lock ? q.forUpdate() : q).executeTakeFirst();
  };
  let row = await select();
  if (!row) {
    // Every account gets its row at creation; this only repairs one made some other way.
    await db
      .insertInto('user_quotas')
      .values({ user_id: userId })
      .onConflict((oc) => oc.column('user_id').doNothing())
      .execute();
    row = await select();
  }
  if (!row) throw new AppError('not_found', 'No such user');
  return row;
}

function line(limit: number, used: number, source: LimitSource, resetsAt: Date | null): QuotaLine {
  return {
    limit,
    used,
    remaining: Math.max(0, limit - used),
    source,
    resets_at: resetsAt ? resetsAt.toISOString() : null,
  };
}

/** Effective limits, usage and reset times of one user (no lock: a snapshot). */
export async function quotaSummary(db: Kysely<DB>, userId: string, now = new Date()): Promise<QuotaSummary> {
  const row = await quotaRow(db, userId, false);
  const eff = await effectiveLimits(db, userId, row);
  const w = rolled(row, now);
  const [storage, counts] = await Promise.all([storageUsedBytes(db, userId), taskCounts(db, userId)]);
  return {
    role: eff.role,
    daily: line(eff.limit.daily, w.daily_used, eff.source.daily, w.daily_reset_at),
    monthly: line(eff.limit.monthly, w.monthly_used, eff.source.monthly, w.monthly_reset_at),
    storage: line(eff.limit.storage, storage, eff.source.storage, null),
    concurrent: line(eff.limit.concurrent, counts.running, eff.source.concurrent, null),
    active_tasks: counts.active,
  };
}

export interface QuotaExceededDetails {
  quota: QuotaKind;
  limit: number;
  used: number;
  resets_at: string | null;
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function quotaExceeded(d: QuotaExceededDetails): AppError {
  const message =
    d.quota === 'storage'
      ? `Storage quota reached: ${formatBytes(d.used)} of ${formatBytes(d.limit)} used; it frees up only when downloads are removed`
      : d.quota === 'concurrent'
        ? `Concurrent download limit reached (${d.used} of ${d.limit} running)`
        : `${d.quota === 'daily' ? 'Daily' : 'Monthly'} download quota reached (${d.used} of ${d.limit} used); it resets at ${d.resets_at}`;
  return new AppError('quota_exceeded', message, d);
}

/** Seconds until a quota_exceeded error's quota resets (daily and monthly), for Retry-After. */
export function retryAfterSeconds(err: unknown, now = Date.now()): number | undefined {
  if (!(err instanceof AppError) || err.code !== 'quota_exceeded') return undefined;
  const d = err.details as Partial<QuotaExceededDetails> | undefined;
  if ((d?.quota !== 'daily' && d?.quota !== 'monthly') || !d.resets_at) return undefined;
  return Math.max(1, Math.ceil((new Date(d.resets_at).getTime() - now) / 1000));
}

/** What a creation may still queue, decided under the user's quota lock. */
export interface Allowance {
  /** tasks that may still be created in this transaction */
  readonly remaining: number;
  /** Counts n created tasks; throws quota_exceeded when fewer than n remain. */
  take(n: number): void;
  /** The error naming the quota that stops the next task. */
  exceeded(): AppError;
}

const UNLIMITED: Allowance = {
  remaining: Number.MAX_SAFE_INTEGER,
  take() {},
  exceeded: () => new AppError('internal_error', 'No quota applies'),
};

/**
 * Runs `fn` in one transaction holding the user's quota row lock, with what
 * the daily, monthly and storage quotas still allow; what `fn` takes is
 * counted in the same transaction. A throw (quota_exceeded included) rolls
 * back everything `fn` inserted. userId null (no account: the CLI) has no quota.
 */
export async function withQuota<T>(
  db: Kysely<DB>,
  userId: string | null,
  fn: (trx: Kysely<DB>, allowance: Allowance) => Promise<T>,
): Promise<T> {
  return db.transaction().execute(async (trx) => {
    if (!userId) return fn(trx, UNLIMITED);
    const now = new Date();
    const row = await quotaRow(trx, userId, true);
    const eff = await effectiveLimits(trx, userId, row);
    const w = rolled(row, now);
    const storage = await storageUsedBytes(trx, userId);
    let taken = 0;

    const blocking = (): QuotaExceededDetails | null => {
      const { limit } = eff;
      // The quota that lasts longest is named first: waiting for the daily reset does not help a full month.
      if (storage >= limit.storage) return { quota: 'storage', limit: limit.storage, used: storage, resets_at: null };
      if (w.monthly_used + taken >= limit.monthly) {
        const used = w.monthly_used + taken;
        return { quota: 'monthly', limit: limit.monthly, used, resets_at: w.monthly_reset_at.toISOString() };
      }
      if (w.daily_used + taken >= limit.daily) {
        return {
          quota: 'daily',
          limit: limit.daily,
          used: w.daily_used + taken,
          resets_at: w.daily_reset_at.toISOString(),
        };
      }
      return null;
    };
    const allowance: Allowance = {
      get remaining() {
        if (storage >= eff.limit.storage) return 0;
        return Math.max(0, Math.min(eff.limit.daily - w.daily_used, eff.limit.monthly - w.monthly_used) - taken);
      },
      take(n) {
        if (n > this.remaining) throw this.exceeded();
        taken += n;
      },
      exceeded() {
        return quotaExceeded(
          blocking() ?? {
            quota: 'daily',
            limit: eff.limit.daily,
            used: w.daily_used + taken,
            resets_at: w.daily_reset_at.toISOString(),
          },
        );
      },
    };

    const result = await fn(trx, allowance);
    if (taken > 0) {
      await trx
        .updateTable('user_quotas')
        .set({
          daily_used: w.daily_used + taken,
          monthly_used: w.monthly_used + taken,
          daily_reset_at: w.daily_reset_at,
          monthly_reset_at: w.monthly_reset_at,
          updated_at: now,
        })
        .where('user_id', '=', userId)
        .execute();
    }
    return result;
  });
}

export type Admission<T> = { admitted: true; value: T } | { admitted: false; running: number; limit: number };

/**
 * The concurrent limit, checked when a worker is about to start a task:
 * under the user's quota row lock (so workers in several processes cannot
 * all take the last slot), `start` runs only while fewer than the limit of
 * the user's other tasks are running; otherwise the caller puts the job
 * back in the queue to wait. Tasks without an owner, and tasks already past
 * `queued` (resumed after a crash: they were admitted once; gating them
 * could leave two such tasks each waiting for the other), start at once.
 */
export async function admitRun<T>(
  db: Kysely<DB>,
  task: { id: string; user_id: string | null; status: string },
  start: (trx: Kysely<DB>) => Promise<T>,
): Promise<Admission<T>> {
  const userId = task.user_id;
  if (!userId || task.status !== 'queued') return { admitted: true, value: await start(db) };
  return db.transaction().execute(async (trx) => {
    const row = await quotaRow(trx, userId, true);
    const eff = await effectiveLimits(trx, userId, row);
    const { running } = await taskCounts(trx, userId, task.id);
    if (running >= eff.limit.concurrent) return { admitted: false, running, limit: eff.limit.concurrent };
    return { admitted: true, value: await start(trx) };
  });
}

/** How long a task kept waiting by the concurrent limit sits in the queue before it asks again. */
export function admissionDelayMs(attempt: number): number {
  // Backs off to 10 s so a long backlog polls gently; jitter spreads tasks that wait together.
  const base = Math.min(10_000, 500 * 2 ** Math.min(Math.max(0, attempt - 1), 5));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}
