import { Option, type Command } from 'commander';
import { loadConfig, type Config } from '../config/config.js';
import { startServer, stopOnSignals } from '../server.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the server (api, worker or both)')
    .addOption(new Option('--role <role>', 'process role').choices(['all', 'api', 'worker']))
    .option('--port <port>', 'HTTP port (overrides PORT)')
    .option('--host <host>', 'bind address (overrides HOST)')
    .action(async (opts: { role?: string; port?: string; host?: string }) => {
      const env = { ...process.env };
      if (opts.role) env.ROLE = opts.role;
      if (opts.port) env.PORT = opts.port;
      if (opts.host) env.HOST = opts.host;
      const config: Config = loadConfig(env);
      const server = await startServer(config);
      stopOnSignals(server);
    });
}
