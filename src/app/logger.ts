import { pino, destination, type Logger } from 'pino';
import type { Config } from '../config/config.js';

/** fd 1 for the server's log stream; one-shot CLI commands log to fd 2 so stdout carries their output. */
export function createLogger(config: Pick<Config, 'logLevel' | 'role'>, fd: 1 | 2 = 1): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { role: config.role },
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', '*.password', '*.token'],
        censor: '[redacted]',
      },
    },
    destination({ fd, sync: fd === 2 }),
  );
}
