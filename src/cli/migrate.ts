import type { Command } from 'commander';
import { cliConfig } from './context.js';
import { createServices } from '../app/services.js';
import { createLogger } from '../app/logger.js';
import { migrateToLatest } from '../infra/db/database.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations and exit')
    .action(async () => {
      const config = cliConfig();
      const services = await createServices(config, { migrate: false, log: createLogger(config, 2) });
      try {
        const result = await migrateToLatest(services.database);
        const applied = result.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
      } finally {
        await services.close();
      }
    });
}
