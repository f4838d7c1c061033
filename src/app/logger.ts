import { pino, destination, type Logger, type LoggerOptions } from 'pino';
import type { Config } from '../config/config.js';

interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

export function redactUrl(url: string): string {
  return url.replace(/([?&](?:access_token|token|api_key)=)[^&#]*/gi, '$1[redacted]');
}

function requestForLog(req: LoggedRequest) {
  return {
    method: req.method,
    url: req.url === undefined ? undefined : redactUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** fd 1 for the server's log stream; one-shot CLI commands log to fd 2 so stdout carries their output. */
export function createLogger(config: Pick<Config, 'logLevel' | 'role'>, fd: 1 | 2 = 1): Logger {
  return pino(loggerOptions(config), destination({ fd, sync: fd === 2 }));
}

export function loggerOptions(config: Pick<Config, 'logLevel' | 'role'>): LoggerOptions {
  return {
    level: config.logLevel,
    base: { role: config.role },
    // Fastify logs each request's URL: a `?access_token=` credential must not reach the logs.
    serializers: { req: requestForLog },
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', '*.password', '*.token'],
      censor: '[redacted]',
    },
  };
}
