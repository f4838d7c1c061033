import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { loadSecrets, secretsFilePath } from '../../src/config/secrets.js';
import { TEST_ENCRYPTION_KEY, TEST_JWT_SECRET } from '../support/backends.js';
import { problemsOf } from '../support/config.js';

describe('config', () => {
  it('defaults to the embedded mode', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8000);
    expect(c.host).toBe('127.0.0.1');
    expect(c.dataDir).toBe(path.resolve('./data'));
    expect(c.databaseUrl).toBeUndefined();
    expect(c.redisUrl).toBeUndefined();
    expect(c.role).toBe('all');
    expect(c.bodyLimit).toBe(1024 * 1024);
    expect(c.allowPrivateAddresses).toBe(false);
  });

  it.each([
    [{ PORT: 'abc' }, /PORT must be an integer from 0 to 65535 \(got 'abc'\)/],
    [{ PORT: '70000' }, /PORT must be an integer/],
    [{ ROLE: 'boss' }, /ROLE must be one of all, api, worker \(got 'boss'\)/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL \(got <hidden>\)/],
    [{ REDIS_URL: 'nope' }, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ ALLOW_PRIVATE_ADDRESSES: 'maybe' }, /ALLOW_PRIVATE_ADDRESSES must be true or false/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ JWT_SECRET: 'short' }, /JWT_SECRET must be at least 32 characters/],
  ])('rejects %j naming the variable', (env, message) => {
    expect(problemsOf(env as Record<string, string>).join('\n')).toMatch(message);
  });

  it('reports every invalid variable at once', () => {
    expect(problemsOf({ PORT: 'x', ROLE: 'y' })).toHaveLength(2);
  });

  it('reads an optional JSON file, with the environment winning', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-cfg-'));
    const file = path.join(dir, 'ytbh.json');
    writeFileSync(file, JSON.stringify({ PORT: 9001, ROLE: 'api', TRUST_PROXY: ['10.0.0.1', '10.0.0.2'] }));
    const c = loadConfig({ YTBH_CONFIG: file, ROLE: 'worker' });
    expect(c.port).toBe(9001);
    expect(c.role).toBe('worker');
    expect(c.trustProxy).toEqual(['10.0.0.1', '10.0.0.2']);
    writeFileSync(file, JSON.stringify({ PROT: 1 }));
    expect(() => loadConfig({ YTBH_CONFIG: file })).toThrow(/unknown setting 'PROT'/);
    writeFileSync(file, '{not json');
    expect(() => loadConfig({ YTBH_CONFIG: file })).toThrow(/cannot read .* as JSON/);
  });
});

describe('secrets', () => {
  it('are generated once in DATA_DIR on the embedded default and reused', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-sec-'));
    const config = loadConfig({ DATA_DIR: dir });
    const first = loadSecrets(config);
    const second = loadSecrets(config);
    expect(first.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(second.jwtSecret).toBe(first.jwtSecret);
    expect(second.encryptionKeys[0]!.key.equals(first.encryptionKeys[0]!.key)).toBe(true);
    expect(first.encryptionKeys[0]!.key).toHaveLength(32);
    expect(statSync(secretsFilePath(dir)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(secretsFilePath(dir), 'utf8')).jwt_secret).toBe(first.jwtSecret);
  });

  it('are required in distributed mode', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://x@127.0.0.1/db' });
    expect(() => loadSecrets(config)).toThrow(/JWT_SECRET is required[\s\S]*ENCRYPTION_KEY is required/);
    const given = loadSecrets(
      loadConfig({
        DATABASE_URL: 'postgres://x@127.0.0.1/db',
        JWT_SECRET: TEST_JWT_SECRET,
        ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
      }),
    );
    expect(given.jwtSecret).toBe(TEST_JWT_SECRET);
    expect(given.encryptionKeys[0]!.key.toString('hex')).toBe(TEST_ENCRYPTION_KEY);
  });

  it('rejects an encryption key of the wrong size', () => {
    const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1', JWT_SECRET: TEST_JWT_SECRET, ENCRYPTION_KEY: 'abcd' });
    expect(() => loadSecrets(config)).toThrow(/ENCRYPTION_KEY must be 32 bytes/);
  });
});
