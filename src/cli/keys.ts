/**
 * `ytbh keys rotate`: re-encrypts every encrypted column with a new key.
 *
 * Embedded (keys in DATA_DIR/secrets.json): adds a new key first in the file,
 * keeping the old ones, then re-encrypts. The server must be stopped: the
 * command takes the data directory's lock and refuses (exit 2) while a
 * server holds it.
 * Distributed (ENCRYPTION_KEY): the operator sets the new ENCRYPTION_KEY and
 * moves the old one to ENCRYPTION_KEYS_PREVIOUS on every process first; the
 * command then re-encrypts rows to the current key, and can run while the
 * servers do.
 *
 * Exit codes: 0 done, 1 some values could not be decrypted (listed; they
 * keep their old key), 2 refused (configuration, locked data directory).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { cliConfig } from './context.js';
import { createServices } from '../app/services.js';
import { createLogger } from '../app/logger.js';
import { isDistributed, type Config } from '../config/config.js';
import { secretsFilePath } from '../config/secrets.js';
import { prependEncryptionKey } from '../config/secrets-file-rotate.js';
import { lockDataDir } from '../infra/db/data-dir-lock.js';
import { FieldCipher } from '../infra/crypto/field-cipher.js';
import { failureCount, reencryptAll, type RotationReport } from '../accounts/key-rotation.js';

interface RotateOptions {
  dryRun?: boolean;
  json?: boolean;
  newKey: boolean;
}

function refuse(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

function printReport(report: RotationReport, note: string[], json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...report, notes: note }, null, 2)}\n`);
    return;
  }
  for (const line of note) process.stdout.write(`${line}\n`);
  const verb = report.dry_run ? 'would re-encrypt' : 're-encrypted';
  for (const c of report.columns) {
    process.stdout.write(
      `${c.column}: ${c.rows} rows, ${verb} ${c.reencrypted}, already current ${c.current}, ` +
        `changed meanwhile ${c.skipped}, failed ${c.failed.length}\n`,
    );
    for (const f of c.failed) process.stdout.write(`  failed ${c.column} [${f.key}]: ${f.error}\n`);
  }
}

async function rotate(opts: RotateOptions): Promise<void> {
  const config: Config = cliConfig();
  const embeddedDb = !config.databaseUrl;
  // Keys come from secrets.json unless the environment gives them.
  const keyFile = !isDistributed(config) && !config.encryptionKey;
  const addKey = keyFile && opts.newKey;
  if (keyFile && !existsSync(secretsFilePath(config.dataDir))) {
    refuse(`Nothing to rotate: ${secretsFilePath(config.dataDir)} does not exist (the server has never run here).`);
  }

  let unlock: (() => void) | undefined;
  if (embeddedDb) {
    try {
      mkdirSync(config.dataDir, { recursive: true });
      unlock = lockDataDir(path.join(config.dataDir, 'pgdata.lock'));
    } catch (err) {
      refuse(`${(err as Error).message}\nStop the server first: key rotation needs the embedded database to itself.`);
    }
  }
  try {
    const notes: string[] = [];
    if (addKey && !opts.dryRun) {
      const key = prependEncryptionKey(config.dataDir);
      notes.push(`added key ${key.id} first in ${secretsFilePath(config.dataDir)} (older keys stay there)`);
    }
    const services = await createServices(config, {
      log: createLogger(config, 2),
      ...(embeddedDb ? { pgliteDir: path.join(config.dataDir, 'pgdata') } : {}),
    });
    let report: RotationReport;
    try {
      // A dry run of an embedded rotation measures against a throwaway key: every row would move.
      const cipher =
        addKey && opts.dryRun
          ? new FieldCipher([{ id: 'new-key', key: randomBytes(32) }, ...services.secrets.encryptionKeys])
          : services.cipher;
      if (!addKey) notes.push(`re-encrypting to the current key ${cipher.currentKeyId}`);
      report = await reencryptAll(services.database.db, cipher, { dryRun: opts.dryRun === true });
    } finally {
      await services.close();
    }
    printReport(report, notes, opts.json === true);
    const failed = failureCount(report);
    if (failed) {
      process.stderr.write(
        `${failed} value(s) could not be decrypted and keep their old key: add the key they were encrypted ` +
          'with to ENCRYPTION_KEYS_PREVIOUS (or secrets.json) and run again.\n',
      );
      process.exitCode = 1;
    }
  } finally {
    unlock?.();
  }
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('encryption keys for data at rest');
  keys
    .command('rotate')
    .description(
      'embedded: add a new key to DATA_DIR/secrets.json and re-encrypt every encrypted column with it ' +
        '(stop the server first); distributed: re-encrypt to the current ENCRYPTION_KEY ' +
        '(set it, and the old key in ENCRYPTION_KEYS_PREVIOUS, on every process first)',
    )
    .option('--dry-run', 'count what would be re-encrypted and check every value decrypts; change nothing')
    .option('--json', 'print the report as JSON')
    .option('--no-new-key', 'embedded: only re-encrypt to the current key (finish an interrupted rotation)')
    .action(async (opts: RotateOptions) => rotate(opts));
}
