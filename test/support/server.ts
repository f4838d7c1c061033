/**
 * Starts the real server for a test: in-process (fast, for HTTP behaviour)
 * or as a child process through the CLI (for roles, signals, start-up races).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import {
  createPostgresDatabase,
  redisNamespace,
  TEST_ENCRYPTION_KEY,
  TEST_JWT_SECRET,
  type TempPostgres,
  type TempRedis,
} from './backends.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export type Backend = 'embedded' | 'distributed';

export interface TestServer extends RunningServer {
  dataDir: string;
  close(): Promise<void>;
}

export async function startTestServer(
  backend: Backend = 'embedded',
  env: Record<string, string> = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-test-'));
  let pgdb: TempPostgres | undefined;
  let redis: TempRedis | undefined;
  const baseEnv: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ...env,
  };
  if (backend === 'distributed') {
    pgdb = await createPostgresDatabase();
    redis = redisNamespace();
    Object.assign(baseEnv, {
      DATABASE_URL: pgdb.url,
      REDIS_URL: redis.url,
      JWT_SECRET: TEST_JWT_SECRET,
      ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    });
  }
  const config: Config = loadConfig(baseEnv);
  const server = await startServer(config, {
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...(backend === 'embedded' ? { pgliteDir: 'memory://' } : {}),
    ...(redis ? { cacheKeyPrefix: redis.prefix } : {}),
  });
  return {
    ...server,
    dataDir,
    async close() {
      await server.stop();
      await redis?.clean();
      await pgdb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ChildServer {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs `ytbh <args>` from the TypeScript sources in a child process. */
export function spawnCli(args: string[], env: Record<string, string | undefined>): ChildServer {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, output: () => out, exited };
}

export async function waitForHttp(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${url} did not come up in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A free TCP port (bind to 0, read it, release it). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
