/**
 * GET /api/v2/ws: live task events over a WebSocket, against real servers,
 * a local media server and ffmpeg-generated clips; in distributed mode the
 * worker runs in another server than the one the client is connected to.
 * Also `task_deleted`: a removed download reaches its owner's sockets (and an
 * open SSE stream), never another user's, from whichever api process removed it.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestUser, type TestUser } from '../support/auth.js';
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

  static async connect(server: TestServer, headers: Record<string, string> = server.owner.headers): Promise<Client> {
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v2/ws`, { headers });
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

async function create(server: TestServer, url: string, user: Pick<TestUser, 'fetch'> = server): Promise<Msg> {
  const res = await user.fetch(`${server.url}/api/v2/downloads`, {
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

/** A download of a file the media server does not have: it fails at once (a permanent error, no retries). */
async function failedTask(server: TestServer, user: Pick<TestUser, 'fetch'>): Promise<Msg> {
  const task = await create(server, `${media.url}/missing-${randomUUID()}.mp4`, user);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const t = (await (await user.fetch(`${server.url}/api/v2/downloads/${task.id}`)).json()) as Msg;
    if (t.status === 'failed') return t;
    if (Date.now() > deadline) throw new Error(`the download did not fail: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function remove(server: TestServer, user: Pick<TestUser, 'fetch'>, id: string): Promise<void> {
  const res = await user.fetch(`${server.url}/api/v2/downloads/${id}`, { method: 'DELETE' });
  expect(res.status).toBe(204);
}

const deletedOf = (id: string) => (m: Msg) => m.type === 'task_deleted' && m.task_id === id;

/**
 * Removes a failed download of the owner through `via` and checks who hears of it on sockets of
 * `on`: both owner sockets (subscribe_all, and one subscribed to just that task), not the other
 * user's. The other user then removes one of their own: their socket gets that one, which also
 * shows the owner's event had its chance to (wrongly) arrive first, since events keep their order.
 */
async function expectDeletionReachesOwnerOnly(on: TestServer, via: TestServer, other: TestUser): Promise<void> {
  const all = await Client.connect(on);
  const one = await Client.connect(on);
  const stranger = await Client.connect(on, other.headers);
  try {
    for (const c of [all, stranger]) c.send({ type: 'subscribe_all' });
    for (const c of [all, stranger]) await c.next((m) => m.type === 'subscribed');
    const task = await failedTask(on, on.owner);
    one.send({ type: 'subscribe', task_ids: [task.id] });
    await one.next((m) => m.type === 'subscribed');

    await remove(via, via.owner, task.id);
    for (const c of [all, one]) {
      const e = await c.next(deletedOf(task.id), 10_000);
      expect(e).toEqual({ type: 'task_deleted', task_id: task.id, user_id: on.owner.id, at: expect.any(String) });
    }
    // The subscription ended with it: subscribing again finds no such download.
    const seen = one.messages.length;
    one.send({ type: 'subscribe', task_ids: [task.id] });
    expect((await one.next((m) => m.type === 'error', 5000, seen)).error).toMatchObject({
      code: 'not_found',
      details: { task_ids: [task.id] },
    });

    const theirs = await failedTask(on, other);
    await remove(via, other, theirs.id);
    await stranger.next(deletedOf(theirs.id), 10_000);
    expect(stranger.messages.filter(forTask(task.id))).toEqual([]);
    for (const c of [all, one]) {
      expect(c.messages.filter(forTask(theirs.id))).toEqual([]);
      // One removal, and nothing about the task after it.
      const mine = c.messages.filter(forTask(task.id));
      expect(mine.filter((m) => m.type === 'task_deleted')).toHaveLength(1);
      expect(mine.at(-1)!.type).toBe('task_deleted');
    }
  } finally {
    for (const c of [all, one, stranger]) c.close();
  }
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

  it('tells the owner, and only the owner, that a finished download was removed', async () => {
    await expectDeletionReachesOwnerOnly(server, server, await createTestUser(server.services, 'user'));
  });

  it('ends an open SSE stream with task_deleted when its download is removed', async () => {
    // A download that ended without the stream hearing of it (as when its worker died): the row says
    // failed, the stream still waits; removing it is the stream's last event.
    const id = randomUUID();
    const db = server.services.database.db;
    await db
      .insertInto('download_tasks')
      .values({
        id,
        user_id: server.owner.id,
        url: `${media.url}/sse.mp4`,
        platform: 'generic',
        status: 'queued',
        options: '{}',
      })
      .execute();
    const res = await server.fetch(`${server.url}/api/v2/downloads/${id}/events`);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('\n\n')) text += (await reader.read()).value ?? '';
    expect(text).toMatch(/^event: task_status\n/);
    await db.updateTable('download_tasks').set({ status: 'failed' }).where('id', '=', id).execute();
    await remove(server, server, id);
    // The stream ends by itself after the event.
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += chunk.value;
    const events = [...text.matchAll(/^event: (\w+)\ndata: (.+)$/gm)].map((m) => ({
      type: m[1],
      data: JSON.parse(m[2]!),
    }));
    expect(events.map((e) => e.type)).toEqual(['task_status', 'task_deleted']);
    expect(events[1]!.data).toMatchObject({ type: 'task_deleted', task_id: id });
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

  it('tells the owner on one api process of a removal made through another, and no one else', async () => {
    // Sockets on the api server, the DELETE through the other one: the event crosses Redis.
    await expectDeletionReachesOwnerOnly(api, worker, await createTestUser(api.services, 'user'));
  });
});
