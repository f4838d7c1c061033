/** Request logs never carry credentials: headers are redacted and so is a `?access_token=` in the URL. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions, redactUrl } from '../../src/app/logger.js';
import { loadConfig } from '../../src/config/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

describe('redactUrl', () => {
  it.each([
    ['/a?access_token=abc', '/a?access_token=[redacted]'],
    ['/a?x=1&access_token=abc&y=2', '/a?x=1&access_token=[redacted]&y=2'],
    ['/a?ACCESS_TOKEN=abc#f', '/a?ACCESS_TOKEN=[redacted]#f'],
    ['/a?api_key=k', '/a?api_key=[redacted]'],
    ['/a?my_access_token=abc', '/a?my_access_token=abc'],
    ['/plain', '/plain'],
  ])('%s → %s', (input, out) => expect(redactUrl(input)).toBe(out));
});

describe('request logs', () => {
  const lines: string[] = [];
  let server: RunningServer;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-log-'));
    const config = loadConfig({ PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    server = await startServer(config, { log: pino(loggerOptions(config), sink), pgliteDir: 'memory://' });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('redact the query credential and the credential headers', async () => {
    const secret = 'ytbh_0123456789ab_SECRETSECRETSECRETSECRETSECRETSECRETSECRETSEC';
    const res = await fetch(
      `${server.url}/api/v2/downloads/00000000-0000-4000-8000-000000000000/file?access_token=${secret}`,
      { headers: { authorization: 'Bearer also-secret', 'x-api-key': secret } },
    );
    expect(res.status).toBe(401);
    await new Promise((r) => setTimeout(r, 100));
    const logged = lines.join('\n');
    expect(logged).toContain('/api/v2/downloads/00000000-0000-4000-8000-000000000000/file?access_token=[redacted]');
    expect(logged).not.toContain('SECRET');
    expect(logged).not.toContain('also-secret');
  });
});
