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
import { createTestUser, type Fetch, type TestUser } from './auth.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export type Backend = 'embedded' | 'distributed';

export interface TestServer extends RunningServer {
  dataDir: string;
  /** Distributed servers only: the database and cache namespace, for a second server sharing them. */
  backends?: SharedBackends;
  /** The server's first account (an admin), made at start unless `noUser`; api/all roles only. */
  owner: TestUser;
  /** fetch with the owner's API key */
  fetch: Fetch;
  close(): Promise<void>;
}

export interface SharedBackends {
  databaseUrl: string;
  redisUrl: string;
  cacheKeyPrefix: string;
}

export interface StartOptions {
  /**
   * Distributed only: use another test server's database and Redis key
   * namespace instead of fresh ones (two processes of one deployment).
   * The sharer never drops them; the owner's close() closes its sharers first.
   */
  share?: { from: TestServer };
  /** Start with no accounts (first-run tests); `owner` and `fetch` are then unusable. */
  noUser?: boolean;
}

const sharersOf = new WeakMap<TestServer, Set<TestServer>>();

const NO_USER: TestUser = new Proxy({} as TestUser, {
  get(_t, prop) {
    if (prop === 'then') return undefined;
    throw new Error(`this test server was started with noUser: it has no owner (${String(prop)})`);
  },
});

export async function startTestServer(
  backend: Backend = 'embedded',
  env: Record<string, string> = {},
  opts: StartOptions = {},
): Promise<TestServer> {
  const shared = opts.share?.from;
  if (shared && (backend !== 'distributed' || !shared.backends)) {
    throw new Error('share needs two distributed servers');
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-test-'));
  let pgdb: TempPostgres | undefined;
  let redis: TempRedis | undefined;
  let backends: SharedBackends | undefined;
  const baseEnv: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ...env,
  };
  if (backend === 'distributed') {
    if (shared) {
      backends = shared.backends!;
    } else {
      pgdb = await createPostgresDatabase();
      redis = redisNamespace();
      backends = { databaseUrl: pgdb.url, redisUrl: redis.url, cacheKeyPrefix: redis.prefix };
    }
    Object.assign(baseEnv, {
      DATABASE_URL: backends.databaseUrl,
      REDIS_URL: backends.redisUrl,
      JWT_SECRET: TEST_JWT_SECRET,
      ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    });
  }
  const config: Config = loadConfig(baseEnv);
  const server = await startServer(config, {
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...(backend === 'embedded' ? { pgliteDir: 'memory://' } : {}),
    ...(backends ? { cacheKeyPrefix: backends.cacheKeyPrefix } : {}),
  });
  const sharers = new Set<TestServer>();
  let owner: TestUser;
  try {
    owner =
      opts.noUser || shared ? (shared?.owner ?? NO_USER) : await createTestUser(server.services, 'admin', 'owner');
  } catch (err) {
    await server.stop();
    throw err;
  }
  const testServer: TestServer = {
    ...server,
    owner,
    // Looked up when called: with noUser the owner throws on any use, and starting must not count as one.
    fetch: (input, init) => owner.fetch(input, init),
    dataDir,
    ...(backends ? { backends } : {}),
    async close() {
      for (const s of [...sharers]) await s.close();
      await server.stop();
      if (shared) sharersOf.get(shared)?.delete(testServer);
      await redis?.clean();
      await pgdb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  sharersOf.set(testServer, sharers);
  if (shared) sharersOf.get(shared)?.add(testServer);
  return testServer;
}

export interface ChildServer {
  proc: ChildProcess;
  /** stdout and stderr interleaved */
  output: () => string;
  /** stdout alone */
  stdout: () => string;
  /** stderr alone */
  stderr: () => string;
  exited: Promise<number | null>;
  /** The exit code once the process has exited and its output has been read to the end. */
  closed: Promise<number | null>;
}

/** Runs `ytbh <args>` from the TypeScript sources in a child process. */
export function spawnCli(args: string[], env: Record<string, string | undefined>): ChildServer {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  let stderr = '';
  // Decoded as streams, so a multi-byte character split across chunks stays whole.
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    out += d;
    stdout += d;
  });
  proc.stderr!.on('data', (d: string) => {
    out += d;
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const closed = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  return { proc, output: () => out, stdout: () => stdout, stderr: () => stderr, exited, closed };
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
