/**
 * `ytbh keys rotate` end to end, through the real CLI in a child process:
 * rows written with key A, rotated to key B, every row then carries B's id
 * and decrypts, also once A is gone. Embedded (PGlite in DATA_DIR, keys in
 * secrets.json) and distributed (PostgreSQL, keys in the environment).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices, type Services } from '../../src/app/services.js';
import { loadConfig } from '../../src/config/config.js';
import { keyId, secretsFilePath } from '../../src/config/secrets.js';
import { ENCRYPTED_COLUMNS, reencryptAll } from '../../src/accounts/key-rotation.js';
import { FieldCipher } from '../../src/infra/crypto/field-cipher.js';
import { lockDataDir } from '../../src/infra/db/data-dir-lock.js';
import { createPostgresDatabase, TEST_JWT_SECRET, type TempPostgres } from '../support/backends.js';
import { spawnCli } from '../support/server.js';

const silent = pino({ level: 'silent' });
const tempDirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ytbh-keys-'));
  tempDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

const COOKIES = {
  bilibili: ['.bilibili.com', 'TRUE', '/', 'TRUE', '0', 'SESSDATA', 'bili-secret'].join('\t'),
  youtube: ['.youtube.com', 'TRUE', '/', 'TRUE', '0', 'SID', 'yt-secret'].join('\t'),
};
const webhook = (n: number): string => `https://hooks.example.com/${n}?token=t${n}`;

/** A bare user row and its preferences (no password hashing: these users never sign in). */
async function insertUser(services: Services, prefix: string): Promise<{ id: string }> {
  const db = services.database.db;
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const user = await db
    .insertInto('users')
    .values({ username: name, email: `${name}@example.test`, password_hash: 'unused', role: 'user' })
    .returning('id')
    .executeTakeFirstOrThrow();
  await db.insertInto('user_preferences').values({ user_id: user.id }).execute();
  return user;
}

interface Written {
  users: string[];
}

/** Users with webhook URLs (one without) and cookies for two platforms, all encrypted by `services`. */
async function writeRows(services: Services, webhooks: number): Promise<Written> {
  const db = services.database.db;
  const users: string[] = [];
  for (let i = 0; i < webhooks + 1; i++) {
    const u = await insertUser(services, `u${i}`);
    users.push(u.id);
    if (i === webhooks) continue; // the last one has no webhook: a null column is not a row to rotate
    const enc = services.cipher.encrypt(webhook(i), ENCRYPTED_COLUMNS.webhookUrl.context(u.id));
    await db.updateTable('user_preferences').set({ webhook_url_enc: enc }).where('user_id', '=', u.id).execute();
  }
  await services.cookies.save('bilibili', COOKIES.bilibili, null);
  await services.cookies.save('youtube', COOKIES.youtube, null);
  return { users };
}

async function encryptedValues(services: Services): Promise<string[]> {
  const db = services.database.db;
  const hooks = await db
    .selectFrom('user_preferences')
    .select('webhook_url_enc')
    .where('webhook_url_enc', 'is not', null)
    .execute();
  const cookies = await db.selectFrom('platform_cookies').select('cookies_enc').execute();
  return [...hooks.map((h) => h.webhook_url_enc!), ...cookies.map((c) => c.cookies_enc)];
}

/** Every row decrypts to what was written, through the same code paths the server uses. */
async function expectReadable(services: Services, written: Written, webhooks: number): Promise<void> {
  const db = services.database.db;
  for (let i = 0; i < webhooks; i++) {
    const row = await db
      .selectFrom('user_preferences')
      .select('webhook_url_enc')
      .where('user_id', '=', written.users[i]!)
      .executeTakeFirstOrThrow();
    expect(services.cipher.decrypt(row.webhook_url_enc!, ENCRYPTED_COLUMNS.webhookUrl.context(written.users[i]!))).toBe(
      webhook(i),
    );
  }
  for (const platform of ['bilibili', 'youtube'] as const) {
    expect(await services.cookies.status(platform)).toMatchObject({ present: true, cookie_count: 1 });
    const cookies = await services.cookies.load(platform);
    expect(cookies?.map((c) => c.value)).toEqual([platform === 'bilibili' ? 'bili-secret' : 'yt-secret']);
  }
}

interface Report {
  key_id: string;
  dry_run: boolean;
  columns: { column: string; rows: number; reencrypted: number; current: number; skipped: number; failed: unknown[] }[];
}

async function rotate(env: Record<string, string>, ...args: string[]) {
  const child = spawnCli(['keys', 'rotate', ...args], env);
  const code = await child.closed;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

function counts(report: Report) {
  return Object.fromEntries(
    report.columns.map((c) => [
      c.column,
      { rows: c.rows, reencrypted: c.reencrypted, current: c.current, failed: c.failed.length },
    ]),
  );
}

async function auditCount(services: Services): Promise<number> {
  const rows = await services.database.db
    .selectFrom('audit_log')
    .select('id')
    .where('action', '=', 'admin.keys_rotated')
    .execute();
  return rows.length;
}

// Each step starts the CLI (tsx) and opens a database: generous limits for a busy machine.
const SLOW = { timeout: 180_000 };

describe('embedded (secrets.json)', SLOW, () => {
  const WEBHOOKS = 2;
  let dataDir: string;
  let env: Record<string, string>;
  let written: Written;
  let keyA: string;
  const open = () => createServices(loadConfig(env), { log: silent });
  const fileKeys = (): { id: string; key: string }[] =>
    (JSON.parse(readFileSync(secretsFilePath(dataDir), 'utf8')) as { encryption_keys: { id: string; key: string }[] })
      .encryption_keys;

  beforeAll(async () => {
    dataDir = tempDir();
    env = { DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
    const services = await open();
    try {
      keyA = services.cipher.currentKeyId;
      written = await writeRows(services, WEBHOOKS);
    } finally {
      await services.close();
    }
  }, SLOW.timeout);

  it('refuses with exit code 2 while a server holds the data directory, changing nothing', async () => {
    // The lock a running server holds (createServices takes the same one).
    const unlock = lockDataDir(path.join(dataDir, 'pgdata.lock'));
    try {
      const before = readFileSync(secretsFilePath(dataDir), 'utf8');
      const res = await rotate(env);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(new RegExp(`in use by process ${process.pid}`));
      expect(res.stderr).toMatch(/Stop the server first/);
      expect(res.stderr).not.toMatch(/\n\s+at /);
      expect(readFileSync(secretsFilePath(dataDir), 'utf8')).toBe(before);
    } finally {
      unlock();
    }
  });

  it('--dry-run counts what would move and changes nothing', async () => {
    const before = readFileSync(secretsFilePath(dataDir), 'utf8');
    const services0 = await open();
    const valuesBefore = await encryptedValues(services0);
    await services0.close();

    const res = await rotate(env, '--dry-run', '--json');
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as Report;
    expect(report.dry_run).toBe(true);
    expect(counts(report)).toEqual({
      'user_preferences.webhook_url_enc': { rows: WEBHOOKS, reencrypted: WEBHOOKS, current: 0, failed: 0 },
      'platform_cookies.cookies_enc': { rows: 2, reencrypted: 2, current: 0, failed: 0 },
    });
    expect(readFileSync(secretsFilePath(dataDir), 'utf8')).toBe(before);
    const services = await open();
    try {
      expect(await encryptedValues(services)).toEqual(valuesBefore);
      expect(await auditCount(services)).toBe(0);
    } finally {
      await services.close();
    }
  });

  it('adds key B first in secrets.json (0600, A kept) and re-encrypts every row with it', async () => {
    const res = await rotate(env, '--json');
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as Report;
    const keys = fileKeys();
    expect(keys).toHaveLength(2);
    const keyB = keys[0]!.id;
    expect(keyB).not.toBe(keyA);
    expect(keys[1]!.id).toBe(keyA);
    expect(keyId(Buffer.from(keys[0]!.key, 'base64'))).toBe(keyB);
    expect(statSync(secretsFilePath(dataDir)).mode & 0o777).toBe(0o600);
    expect(report.key_id).toBe(keyB);
    expect(counts(report)).toEqual({
      'user_preferences.webhook_url_enc': { rows: WEBHOOKS, reencrypted: WEBHOOKS, current: 0, failed: 0 },
      'platform_cookies.cookies_enc': { rows: 2, reencrypted: 2, current: 0, failed: 0 },
    });

    const services = await open();
    try {
      expect(services.cipher.currentKeyId).toBe(keyB);
      const values = await encryptedValues(services);
      expect(values).toHaveLength(WEBHOOKS + 2);
      for (const v of values) expect(FieldCipher.keyIdOf(v)).toBe(keyB);
      await expectReadable(services, written, WEBHOOKS);
      expect(await auditCount(services)).toBe(1);
    } finally {
      await services.close();
    }
  });

  it('rows still decrypt with key A removed from secrets.json', async () => {
    const file = JSON.parse(readFileSync(secretsFilePath(dataDir), 'utf8')) as { encryption_keys: unknown[] };
    file.encryption_keys = file.encryption_keys.slice(0, 1);
    writeFileSync(secretsFilePath(dataDir), JSON.stringify(file), { mode: 0o600 });
    const services = await open();
    try {
      expect(services.secrets.encryptionKeys).toHaveLength(1);
      await expectReadable(services, written, WEBHOOKS);
    } finally {
      await services.close();
    }
  });

  it('--no-new-key is idempotent: nothing left to re-encrypt, no key added', async () => {
    const res = await rotate(env, '--no-new-key');
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/user_preferences\.webhook_url_enc: 2 rows, re-encrypted 0, already current 2/);
    expect(res.stdout).toMatch(/platform_cookies\.cookies_enc: 2 rows, re-encrypted 0, already current 2/);
    expect(fileKeys()).toHaveLength(1);
  });
});

describe('distributed (ENCRYPTION_KEY + ENCRYPTION_KEYS_PREVIOUS)', SLOW, () => {
  const WEBHOOKS = 3;
  const [A, B, C] = [0, 1, 2].map(() => randomBytes(32).toString('hex')) as [string, string, string];
  const idOf = (hex: string): string => keyId(Buffer.from(hex, 'hex'));
  let pgdb: TempPostgres;
  let base: Record<string, string>;
  let written: Written;
  let strayUser: string;
  const open = (extra: Record<string, string>) => createServices(loadConfig({ ...base, ...extra }), { log: silent });

  beforeAll(async () => {
    pgdb = await createPostgresDatabase();
    base = { DATABASE_URL: pgdb.url, JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: tempDir(), LOG_LEVEL: 'silent' };
    const services = await open({ ENCRYPTION_KEY: A });
    try {
      written = await writeRows(services, WEBHOOKS);
    } finally {
      await services.close();
    }
    // One more row, written under a key C the rotation will not be told about at first.
    const other = await open({ ENCRYPTION_KEY: C });
    try {
      const u = await insertUser(other, 'stray');
      strayUser = u.id;
      const enc = other.cipher.encrypt('https://stray.example.com/', ENCRYPTED_COLUMNS.webhookUrl.context(u.id));
      await other.database.db
        .updateTable('user_preferences')
        .set({ webhook_url_enc: enc })
        .where('user_id', '=', u.id)
        .execute();
    } finally {
      await other.close();
    }
  }, SLOW.timeout);
  afterAll(async () => {
    await pgdb?.drop();
  });

  it('reports values it cannot decrypt (exit 1) and re-encrypts the rest to B', async () => {
    const res = await rotate({ ...base, ENCRYPTION_KEY: B, ENCRYPTION_KEYS_PREVIOUS: A }, '--json');
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/1 value\(s\) could not be decrypted/);
    const report = JSON.parse(res.stdout) as Report;
    expect(report.key_id).toBe(idOf(B));
    expect(counts(report)).toEqual({
      'user_preferences.webhook_url_enc': { rows: WEBHOOKS + 1, reencrypted: WEBHOOKS, current: 0, failed: 1 },
      'platform_cookies.cookies_enc': { rows: 2, reencrypted: 2, current: 0, failed: 0 },
    });
    expect(report.columns[0]!.failed).toEqual([
      { key: strayUser, error: expect.stringMatching(new RegExp(`unknown key ${idOf(C)}`)) },
    ]);
    const services = await open({ ENCRYPTION_KEY: B, ENCRYPTION_KEYS_PREVIOUS: C });
    try {
      const ids = (await encryptedValues(services)).map((v) => FieldCipher.keyIdOf(v));
      expect(ids.filter((id) => id === idOf(B))).toHaveLength(WEBHOOKS + 2);
      expect(ids.filter((id) => id === idOf(C))).toHaveLength(1);
      expect(await auditCount(services)).toBe(1);
    } finally {
      await services.close();
    }
  });

  it('a rerun that knows C finishes the job; a third run has nothing to do', async () => {
    const env = { ...base, ENCRYPTION_KEY: B, ENCRYPTION_KEYS_PREVIOUS: `${A},${C}` };
    const second = await rotate(env, '--json');
    expect(second.code, second.stderr).toBe(0);
    expect(counts(JSON.parse(second.stdout) as Report)).toEqual({
      'user_preferences.webhook_url_enc': { rows: WEBHOOKS + 1, reencrypted: 1, current: WEBHOOKS, failed: 0 },
      'platform_cookies.cookies_enc': { rows: 2, reencrypted: 0, current: 2, failed: 0 },
    });
    const third = await rotate(env);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toMatch(/re-encrypting to the current key/);
    expect(third.stdout).toMatch(/webhook_url_enc: 4 rows, re-encrypted 0, already current 4/);
  });

  it('with only B configured every row still decrypts', async () => {
    const services = await open({ ENCRYPTION_KEY: B });
    try {
      for (const v of await encryptedValues(services)) expect(FieldCipher.keyIdOf(v)).toBe(idOf(B));
      await expectReadable(services, written, WEBHOOKS);
      const stray = await services.database.db
        .selectFrom('user_preferences')
        .select('webhook_url_enc')
        .where('user_id', '=', strayUser)
        .executeTakeFirstOrThrow();
      expect(services.cipher.decrypt(stray.webhook_url_enc!, ENCRYPTED_COLUMNS.webhookUrl.context(strayUser))).toBe(
        'https://stray.example.com/',
      );
    } finally {
      await services.close();
    }
  });

  it('re-encrypts across many small batches (keyset pagination), leaving nothing behind', async () => {
    const services = await open({ ENCRYPTION_KEY: A, ENCRYPTION_KEYS_PREVIOUS: B });
    try {
      const report = await reencryptAll(services.database.db, services.cipher, { batchSize: 2 });
      expect(counts(report)['user_preferences.webhook_url_enc']).toEqual({
        rows: WEBHOOKS + 1,
        reencrypted: WEBHOOKS + 1,
        current: 0,
        failed: 0,
      });
      expect(counts(report)['platform_cookies.cookies_enc']).toMatchObject({ rows: 2, reencrypted: 2 });
      for (const v of await encryptedValues(services)) expect(FieldCipher.keyIdOf(v)).toBe(idOf(A));
      const again = await reencryptAll(services.database.db, services.cipher, { batchSize: 1, dryRun: true });
      expect(again.columns.every((c) => c.reencrypted === 0 && c.current === c.rows)).toBe(true);
    } finally {
      await services.close();
    }
  });
});
