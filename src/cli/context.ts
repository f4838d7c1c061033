/** Config and services for one-shot commands: quiet logs on stderr, so stdout stays clean for output. */
import { loadConfig, type Config } from '../config/config.js';
import { createServices, type Services } from '../app/services.js';
import { createLogger } from '../app/logger.js';

export function cliConfig(): Config {
  return loadConfig(process.env, process.env.LOG_LEVEL ? {} : { logLevel: 'warn' });
}

export async function withServices<T>(fn: (services: Services) => Promise<T>): Promise<T> {
  const config = cliConfig();
  const services = await createServices(config, { log: createLogger(config, 2) });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}
