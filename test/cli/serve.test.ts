import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresDatabase,
  redisNamespace,
  TEST_ENCRYPTION_KEY,
  TEST_JWT_SECRET,
  type TempPostgres,
} from '../support/backends.js';
import { startReplayServer, type ReplayServer } from '../support/replay-server.js';
import { freePort, spawnCli, waitForHttp, type ChildServer } from '../support/server.js';
import { signUpFirstAdmin } from '../support/auth.js';
import { migrations } from '../../src/infra/db/migrations/index.js';

const tempDirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ytbh-cli-'));
  tempDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

async function stop(child: ChildServer): Promise<number | null> {
  if (child.proc.exitCode === null) child.proc.kill('SIGTERM');
  return child.exited;
}

// Cold starts of real processes (tsx, PGlite, argon2): minutes, not seconds, on a loaded 2-core CI machine.
const COLD_START = { timeout: 240_000 };
const UP_WITHIN_MS = 200_000;

describe('ytbh serve on the embedded default', COLD_START, () => {
  let replay: ReplayServer;
  beforeAll(async () => {
    // A slow upstream, to hold a request in flight while the server shuts down.
    replay = await startReplayServer([
      {
        name: 'slow-view',
        method: 'GET',
        host: 'api.bilibili.com',
        path: '/x/web-interface/view',
        match: { 'query.bvid': 'BV1Et4y1r7Eu' },
        file: 'bilibili/api/BV1Et4y1r7Eu.x-web-interface-view.json',
        delayMs: 1500,
      },
    ]);
  });
  afterAll(async () => {
    await replay.stop();
  });

  it('starts with zero services, answers, finishes in-flight requests on SIGTERM and exits 0', async () => {
    const port = await freePort();
    const dataDir = tempDir();
    const child = spawnCli(['serve'], { PORT: String(port), DATA_DIR: dataDir, YTBH_UPSTREAM_REWRITE: replay.url });
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitForHttp(`${base}/api/v2/system/health`, UP_WITHIN_MS);
      const admin = await signUpFirstAdmin(base);
      const info = (await (await admin.fetch(`${base}/api/v2/system/info`)).json()) as {
        backends: unknown;
        role: string;
      };
      expect(info.backends).toEqual({ database: 'pglite', cache: 'memory' });
      expect(info.role).toBe('all');

      const inFlight = admin.fetch(`${base}/api/v2/videos/info?url=https://www.bilibili.com/video/BV1Et4y1r7Eu`);
      await new Promise((r) => setTimeout(r, 300));
      child.proc.kill('SIGTERM');
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { title: string }).title).toBe('骁龙888性能分析：翻车！');
      expect(await child.exited).toBe(0);
      await expect(fetch(`${base}/api/v2/system/health`)).rejects.toThrow();
      expect(child.output()).toContain('shutting down');
    } finally {
      await stop(child);
    }
  });

  it('refuses a second process on the same DATA_DIR with a clear message', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const first = spawnCli(['serve'], { PORT: String(port), DATA_DIR: dataDir });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/api/v2/system/health`, UP_WITHIN_MS);
      const second = spawnCli(['serve'], { PORT: String(await freePort()), DATA_DIR: dataDir });
      expect(await second.exited).not.toBe(0);
      expect(second.output()).toMatch(/in use by process \d+[\s\S]*DATABASE_URL/);
      expect((await fetch(`http://127.0.0.1:${port}/api/v2/system/health`)).status).toBe(200);
    } finally {
      await stop(first);
    }
  });

  it('stops with exit code 2 and names the variable when the config is invalid', async () => {
    const child = spawnCli(['serve'], { PORT: 'eighty', ROLE: 'boss', DATA_DIR: tempDir() });
    expect(await child.exited).toBe(2);
    expect(child.output()).toContain("PORT must be an integer from 0 to 65535 (got 'eighty')");
    expect(child.output()).toContain("ROLE must be one of all, api, worker (got 'boss')");
    expect(child.output()).not.toMatch(/\n\s+at /);
  });

  it('requires shared secrets in distributed mode', async () => {
    const child = spawnCli(['serve'], {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
      DATA_DIR: tempDir(),
    });
    expect(await child.exited).toBe(2);
    expect(child.output()).toContain('JWT_SECRET is required');
    expect(child.output()).toContain('ENCRYPTION_KEY is required');
  });
});

describe('distributed mode: api and worker processes started together', COLD_START, () => {
  let db: TempPostgres;
  beforeAll(async () => {
    db = await createPostgresDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('both come up without migration races; the worker serves health only', { timeout: 180_000 }, async () => {
    const ns = redisNamespace();
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: ns.url,
      JWT_SECRET: TEST_JWT_SECRET,
      ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
      DATA_DIR: tempDir(),
    };
    const [apiPort, workerPort, api2Port] = [await freePort(), await freePort(), await freePort()];
    const children = [
      spawnCli(['serve', '--role', 'api'], { ...env, PORT: String(apiPort) }),
      spawnCli(['serve', '--role', 'worker'], { ...env, PORT: String(workerPort) }),
      spawnCli(['serve', '--role', 'api'], { ...env, PORT: String(api2Port) }),
    ];
    try {
      await Promise.all(
        [apiPort, workerPort, api2Port].map((p) =>
          waitForHttp(`http://127.0.0.1:${p}/api/v2/system/health`, UP_WITHIN_MS),
        ),
      );
      for (const c of children) expect(c.output()).not.toMatch(/migration|error/i);

      const admin = await signUpFirstAdmin(`http://127.0.0.1:${apiPort}`);
      const apiInfo = (await (await admin.fetch(`http://127.0.0.1:${apiPort}/api/v2/system/info`)).json()) as any;
      expect(apiInfo.backends).toEqual({ database: 'postgres', cache: 'redis' });
      expect(apiInfo.role).toBe('api');
      const workerHealth = (await (await fetch(`http://127.0.0.1:${workerPort}/api/v2/system/health`)).json()) as any;
      expect(workerHealth.role).toBe('worker');
      expect((await fetch(`http://127.0.0.1:${workerPort}/api/v2/system/ready`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${workerPort}/api/v2/openapi.json`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${workerPort}/api/v2/platforms`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${apiPort}/api/v2/platforms`)).status).toBe(200);

      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const applied = await client.query('select name from kysely_migration');
      await client.end();
      // Every migration once, in order, though three processes raced to apply them.
      expect(applied.rows.map((r) => r.name)).toEqual(Object.keys(migrations));
    } finally {
      const codes = await Promise.all(children.map(stop));
      expect(codes).toEqual([0, 0, 0]);
      await ns.clean();
    }
  });
});

describe('one-shot commands', COLD_START, () => {
  it('migrate applies migrations once and then reports up to date', async () => {
    const db = await createPostgresDatabase();
    try {
      const env = {
        DATABASE_URL: db.url,
        JWT_SECRET: TEST_JWT_SECRET,
        ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
        DATA_DIR: tempDir(),
      };
      const first = spawnCli(['migrate'], env);
      expect(await first.exited).toBe(0);
      expect(first.output()).toContain('applied: 0001_initial, 0002_task_idempotency');
      const second = spawnCli(['migrate'], env);
      expect(await second.exited).toBe(0);
      expect(second.output()).toContain('database is up to date');
    } finally {
      await db.drop();
    }
  });

  it('user create --admin bootstraps an administrator with an argon2id hash', async () => {
    const dataDir = tempDir();
    const create = spawnCli(
      ['user', 'create', '--username', 'root_admin', '--email', 'Admin@Example.com', '--admin', '--password-stdin'],
      {
        DATA_DIR: dataDir,
      },
    );
    create.proc.stdin!.end('correct horse battery staple\n');
    expect(await create.exited).toBe(0);
    expect(create.output()).toMatch(/created admin root_admin \([0-9a-f-]{36}\)/);

    const dup = spawnCli(
      ['user', 'create', '--username', 'ROOT_ADMIN', '--email', 'x@example.com', '--password-stdin'],
      {
        DATA_DIR: dataDir,
      },
    );
    dup.proc.stdin!.end('another long password\n');
    expect(await dup.exited).toBe(1);
    expect(dup.output()).toContain('error (conflict): A user with that username or email already exists');

    const weak = spawnCli(['user', 'create', '--username', 'bob', '--email', 'bob@example.com', '--password-stdin'], {
      DATA_DIR: dataDir,
    });
    weak.proc.stdin!.end('short\n');
    expect(await weak.exited).toBe(1);
    expect(weak.output()).toContain('password: 8-256 characters');
  });

  it('--help lists the commands', async () => {
    const help = spawnCli(['--help'], {});
    expect(await help.exited).toBe(0);
    for (const cmd of ['serve', 'migrate', 'user', 'info', 'formats', 'download']) expect(help.output()).toContain(cmd);
  });
});
