/**
 * GET /api/v2/ws: live task events over a WebSocket, against real servers,
 * a local media server and ffmpeg-generated clips; in distributed mode the
 * worker runs in another server than the one the client is connected to.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { makeMedia, type MediaFile } from '../support/media.js';
import { startMediaServer, type MediaServer } from '../support/media-server.js';
import { startTestServer, type TestServer } from '../support/server.js';

type Msg = Record<string, any>;

let mediaDir: string;
let clip: MediaFile;
let media: MediaServer;

beforeAll(async () => {
  mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-ws-'));
  clip = await makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' });
  // Copies under other names: each test gets a task of its own (the same URL while active is the same task).
  for (const name of ['slow.mp4', 'all.mp4', 'dist.mp4']) copyFileSync(clip.path, path.join(mediaDir, name));
  media = await startMediaServer(mediaDir, { paths: { '/slow.mp4': { throttleBytesPerSec: 60_000 } } });
});
afterAll(async () => {
  await media?.stop();
  rmSync(mediaDir, { recursive: true, force: true });
});

/** A WebSocket client that keeps every message and waits for the ones a test needs. */
class Client {
  readonly messages: Msg[] = [];
  closeCode: number | null = null;
  private waiters: (() => void)[] = [];
  private readonly closedP: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as Msg);
      this.wake();
    });
    this.closedP = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        this.wake();
        resolve(code);
      }),
    );
  }

  static async connect(server: TestServer): Promise<Client> {
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v2/ws`, { headers: server.owner.headers });
    const client = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The first message (from index `from`) that matches, waiting for it. */
  async next(match: (m: Msg) => boolean, timeoutMs = 30_000, from = 0): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(match);
      if (found) return found;
      if (this.closeCode !== null) throw new Error(`socket closed (${this.closeCode}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  closed(): Promise<number> {
    return this.closedP;
  }

  close(): void {
    this.ws.close();
  }
}

async function create(server: TestServer, url: string): Promise<Msg> {
  const res = await server.fetch(`${server.url}/api/v2/downloads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url }),
  });
  expect(res.status).toBe(202);
  return (await res.json()) as Msg;
}

const forTask = (id: string) => (m: Msg) => m.task_id === id;

function expectTaskStream(events: Msg[], owner: string) {
  const types = events.map((e) => e.type);
  expect(types.at(-1)).toBe('download_complete');
  expect(types.at(-2)).toBe('task_completed');
  expect(types.filter((t) => t === 'task_completed')).toHaveLength(1);
  const progress = events.filter((e) => e.type === 'task_progress').map((e) => e.progress as number);
  for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]!);
  const completed = events.at(-2)!;
  expect(completed).toMatchObject({ status: 'completed', progress: 100 });
  expect(completed.file_size).toBeGreaterThan(0);
  expect(completed.user_id).toBe(owner);
  return { types, progress };
}

describe('WebSocket events (embedded)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded', { ALLOW_PRIVATE_ADDRESSES: 'true' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('sends the last known event of a subscribed task, then its status, progress and completion in order', async () => {
    const task = await create(server, `${media.url}/slow.mp4`);
    const client = await Client.connect(server);
    try {
      client.send({ type: 'subscribe', task_ids: [task.id] });
      await client.next((m) => m.type === 'download_complete' && m.task_id === task.id, 45_000);
      const events = client.messages.filter(forTask(task.id));
      expect(events[0]!.type).toBe('task_status'); // the snapshot: queued, extracting or already downloading
      const { types, progress } = expectTaskStream(events, server.owner.id);
      // The throttled transfer takes ~2 s: several progress events, at most 4 per second.
      expect(progress.length).toBeGreaterThanOrEqual(2);
      expect(progress.at(-1)!).toBeGreaterThan(progress[0]!);
      const statuses = events.filter((e) => e.type === 'task_status').map((e) => e.status);
      expect(statuses).toContain('processing');
      expect(types.indexOf('task_progress')).toBeGreaterThan(0);
      expect(client.messages).toContainEqual({ type: 'subscribed', task_ids: [task.id] });
      for (const e of events) expect(Object.keys(e)).toEqual(expect.arrayContaining(['status', 'progress', 'at']));

      // A finished task: subscribing again replays its last event at once.
      const again = await Client.connect(server);
      try {
        again.send({ type: 'subscribe', task_ids: [task.id] });
        const last = await again.next(forTask(task.id), 5000);
        expect(last.type).toBe('download_complete');
      } finally {
        again.close();
      }
    } finally {
      client.close();
    }
  });

  it('subscribe_all delivers the events of every task', async () => {
    const client = await Client.connect(server);
    try {
      client.send({ type: 'subscribe_all' });
      await client.next((m) => m.type === 'subscribed' && m.all === true);
      const task = await create(server, `${media.url}/all.mp4`);
      await client.next((m) => m.type === 'download_complete' && m.task_id === task.id, 45_000);
      const events = client.messages.filter(forTask(task.id));
      expect(events[0]).toMatchObject({ type: 'task_status', status: 'queued' });
      expectTaskStream(events, server.owner.id);
    } finally {
      client.close();
    }
  });

  it('answers invalid messages with an error and keeps the socket open', async () => {
    const client = await Client.connect(server);
    try {
      client.send('{not json');
      const bad = await client.next((m) => m.type === 'error');
      expect(bad.error).toMatchObject({ code: 'invalid_json', message: expect.any(String) });

      let seen = client.messages.length;
      client.send({ type: 'subscribe', task_ids: ['../etc/passwd'] });
      expect((await client.next((m) => m.type === 'error', 5000, seen)).error.code).toBe('validation_failed');

      seen = client.messages.length;
      client.send({ type: 'subscribe', task_ids: Array.from({ length: 101 }, () => crypto.randomUUID()) });
      expect((await client.next((m) => m.type === 'error', 5000, seen)).error.code).toBe('validation_failed');

      seen = client.messages.length;
      client.send({ type: 'dance' });
      expect((await client.next((m) => m.type === 'error', 5000, seen)).error.code).toBe('validation_failed');

      seen = client.messages.length;
      client.send([1, 2]);
      expect((await client.next((m) => m.type === 'error', 5000, seen)).error.code).toBe('validation_failed');

      seen = client.messages.length;
      const unknown = '00000000-0000-4000-8000-000000000000';
      client.send({ type: 'subscribe', task_ids: [unknown] });
      const missing = await client.next((m) => m.type === 'error', 5000, seen);
      expect(missing.error).toMatchObject({ code: 'not_found', details: { task_ids: [unknown] } });
      expect(await client.next((m) => m.type === 'subscribed', 5000, seen)).toEqual({
        type: 'subscribed',
        task_ids: [],
      });

      // Still open and still answering.
      seen = client.messages.length;
      client.send({ type: 'subscribe_all' });
      expect(await client.next((m) => m.type === 'subscribed', 5000, seen)).toEqual({ type: 'subscribed', all: true });
      expect(client.closeCode).toBeNull();
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      client.close();
    }
  });

  it('closes the socket with 1009 on an oversized message', async () => {
    const client = await Client.connect(server);
    client.send({ type: 'subscribe', task_ids: ['x'.repeat(5000)] });
    expect(await client.closed()).toBe(1009);
  });

  it('answers a plain GET with 426 and is documented in OpenAPI', async () => {
    const res = await server.fetch(`${server.url}/api/v2/ws`);
    expect(res.status).toBe(426);
    expect(((await res.json()) as Msg).error.code).toBe('bad_request');
    const doc = (await (await server.fetch(`${server.url}/api/v2/openapi.json`)).json()) as Msg;
    expect(doc.paths['/api/v2/ws'].get.tags).toEqual(['downloads']);
  });

  it('stops listening when the client goes away', async () => {
    const hub = server.services.events as unknown as { listeners: Set<unknown> };
    const before = hub.listeners.size;
    const client = await Client.connect(server);
    client.send({ type: 'subscribe_all' });
    await client.next((m) => m.type === 'subscribed');
    expect(hub.listeners.size).toBe(before + 1);
    client.close();
    await client.closed();
    for (let i = 0; i < 50 && hub.listeners.size !== before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(hub.listeners.size).toBe(before);
  });
});

describe('WebSocket events (distributed: api and worker in different servers)', () => {
  let worker: TestServer;
  let api: TestServer;
  beforeAll(async () => {
    worker = await startTestServer('distributed', { ALLOW_PRIVATE_ADDRESSES: 'true' });
    api = await startTestServer(
      'distributed',
      { ALLOW_PRIVATE_ADDRESSES: 'true', ROLE: 'api' },
      { share: { from: worker } },
    );
  });
  afterAll(async () => {
    await worker?.close(); // closes its sharer (api) first
  });

  it('delivers events published by the worker process to a client of the api process', async () => {
    expect(((await (await api.fetch(`${api.url}/api/v2/system/health`)).json()) as Msg).role).toBe('api');
    const client = await Client.connect(api);
    try {
      client.send({ type: 'subscribe_all' });
      await client.next((m) => m.type === 'subscribed');
      const task = await create(api, `${media.url}/dist.mp4`);
      const subscriber = await Client.connect(api);
      try {
        subscriber.send({ type: 'subscribe', task_ids: [task.id] });
        await client.next((m) => m.type === 'download_complete' && m.task_id === task.id, 45_000);
        const events = client.messages.filter(forTask(task.id));
        expect(events[0]).toMatchObject({ type: 'task_status', status: 'queued' });
        // Only the worker server runs downloads: these went through Redis.
        expect(events.some((e) => e.status === 'extracting')).toBe(true);
        expectTaskStream(events, api.owner.id);
        await subscriber.next((m) => m.type === 'download_complete' && m.task_id === task.id, 10_000);
        expectTaskStream(subscriber.messages.filter(forTask(task.id)), api.owner.id);
      } finally {
        subscriber.close();
      }
    } finally {
      client.close();
    }
  });
});
