import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { withServices } from './context.js';
import { createUser } from '../accounts/users.js';

async function readStdinLine(): Promise<string> {
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

export function registerUser(program: Command): void {
  const user = program.command('user').description('manage users');
  user
    .command('create')
    .description('create a user (use --admin to bootstrap the first administrator)')
    .requiredOption('--username <name>', 'login name (3-32 letters, digits, _ . -)')
    .requiredOption('--email <email>', 'email address')
    .option('--password <password>', 'password (prefer --password-stdin: argv is visible to other users)')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .option('--admin', 'give the user the admin role')
    .action(
      async (opts: {
        username: string;
        email: string;
        password?: string;
        passwordStdin?: boolean;
        admin?: boolean;
      }) => {
        const password = opts.passwordStdin
          ? await readStdinLine()
          : (opts.password ?? process.env.YTBH_PASSWORD ?? '');
        const created = await withServices((services) =>
          createUser(services.database.db, {
            username: opts.username,
            email: opts.email,
            password,
            role: opts.admin ? 'admin' : 'user',
          }),
        );
        process.stdout.write(`created ${created.role} ${created.username} (${created.id})\n`);
      },
    );
}
