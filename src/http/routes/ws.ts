/**
 * Live task events over one WebSocket: `GET /api/v2/ws`.
 *
 * Client → server (JSON text frames, at most 4 KiB each):
 *   {"type":"subscribe","task_ids":[uuid, …]}    (≤ 100 per message)
 *   {"type":"unsubscribe","task_ids":[uuid, …]}
 *   {"type":"subscribe_all"}                     (every task the client may see)
 * Server → client: every TaskEvent of a subscribed task as
 *   {"type":"task_progress"|"task_status"|"task_completed"|"task_failed"|"download_complete","task_id",…}
 * — the last known event of each newly subscribed task first — and, when a
 * task is removed (DELETE of a finished download, on any api process),
 *   {"type":"task_deleted","task_id","user_id","at"} (its last message: the subscription ends), plus
 *   {"type":"subscribed","task_ids":[…]} acknowledgements and
 *   {"type":"error","error":{code,message,details?}} for a message it cannot use (the socket stays open).
 * Bigger messages close the socket with 1009; a ping goes out every 30 s and
 * a client that missed the previous pong is dropped.
 *
 * Visibility mirrors the downloads routes: until accounts exist every task
 * belongs to the anonymous owner (user_id null); tasks of other owners are
 * "not found" and their events are never sent.
 */
import websocketPlugin from '@fastify/websocket';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { ApiRoutes } from '../app.js';
import type { Services } from '../../app/services.js';
import { errorBody, isAppError } from '../../errors/app-error.js';
import { lastEvent, taskEvent, type TaskChannelEvent } from '../../delivery/progress.js';
import { getOwnTask } from '../../delivery/tasks.js';
import { ownerOf } from '../owner.js';
import type { ErrorResponse } from '../schemas/common.js';

export const WS_PATH = '/api/v2/ws';
export const MAX_MESSAGE_BYTES = 4096;
export const MAX_TASK_IDS_PER_MESSAGE = 100;
/** Per connection; a client that wants more uses subscribe_all. */
export const MAX_SUBSCRIPTIONS = 1000;
export const PING_INTERVAL_MS = 30_000;
/** A client that stops reading is dropped rather than buffered for without bound. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type ClientMessage =
  { type: 'subscribe'; task_ids: string[] } | { type: 'unsubscribe'; task_ids: string[] } | { type: 'subscribe_all' };

class ProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

function parseMessage(data: RawData, isBinary: boolean): ClientMessage {
  if (isBinary) throw new ProtocolError('bad_request', 'Send JSON text frames, not binary ones');
  const text = Array.isArray(data)
    ? Buffer.concat(data).toString('utf8')
    : Buffer.from(data as Buffer).toString('utf8');
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    throw new ProtocolError('invalid_json', 'The message is not valid JSON');
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg))
    throw new ProtocolError('validation_failed', 'A message is a JSON object with a "type"');
  const m = msg as Record<string, unknown>;
  switch (m.type) {
    case 'subscribe_all':
      return { type: 'subscribe_all' };
    case 'subscribe':
    case 'unsubscribe': {
      const ids = m.task_ids;
      if (!Array.isArray(ids) || ids.length === 0)
        throw new ProtocolError('validation_failed', '"task_ids" must be a non-empty array of task ids');
      if (ids.length > MAX_TASK_IDS_PER_MESSAGE)
        throw new ProtocolError('validation_failed', `At most ${MAX_TASK_IDS_PER_MESSAGE} task ids per message`, {
          max: MAX_TASK_IDS_PER_MESSAGE,
        });
      const bad = ids.filter((id) => typeof id !== 'string' || !UUID.test(id));
      if (bad.length)
        throw new ProtocolError('validation_failed', '"task_ids" must contain only task ids (UUIDs)', {
          invalid: bad.slice(0, 10),
        });
      return { type: m.type, task_ids: [...new Set((ids as string[]).map((id) => id.toLowerCase()))] };
    }
    default:
      throw new ProtocolError(
        'validation_failed',
        'Unknown message type: expected "subscribe", "unsubscribe" or "subscribe_all"',
      );
  }
}

/** One connection: its subscriptions, the event filter and its cleanup. */
function serveConnection(socket: WebSocket, req: FastifyRequest, services: Services): void {
  const db = services.database.db;
  const owner = ownerOf(req);
  const subscribed = new Set<string>();
  /** Tasks whose snapshot is being read: live events wait here so the snapshot goes first. */
  const pending = new Map<string, TaskChannelEvent[]>();
  let all = false;
  let closed = false;
  let alive = true;
  let unlisten: (() => void) | undefined;

  const send = (payload: unknown) => {
    if (closed || socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      socket.close(1008, 'Client too slow');
      return;
    }
    socket.send(JSON.stringify(payload));
  };
  const sendError = (code: string, message: string, details?: unknown) =>
    send({ type: 'error', ...errorBody(code, message, details) });

  const onEvent = (e: TaskChannelEvent) => {
    if (closed || e.user_id !== owner) return;
    const waiting = pending.get(e.task_id);
    if (waiting) waiting.push(e);
    else if (all || subscribed.has(e.task_id)) send(e);
    // Nothing more can come for a removed task: its slot is freed.
    if (e.type === 'task_deleted') subscribed.delete(e.task_id);
  };
  const listening = services.events.listen(onEvent).then(
    (stop) => {
      if (closed) stop();
      else unlisten = stop;
    },
    (err: unknown) => {
      req.log.error({ err }, 'websocket: could not subscribe to task events');
      socket.close(1011, 'Events unavailable');
    },
  );

  const subscribe = async (ids: string[]) => {
    const fresh = ids.filter((id) => !subscribed.has(id) && !pending.has(id));
    if (subscribed.size + pending.size + fresh.length > MAX_SUBSCRIPTIONS) {
      sendError('validation_failed', `At most ${MAX_SUBSCRIPTIONS} subscriptions per connection; use subscribe_all`, {
        max: MAX_SUBSCRIPTIONS,
      });
      return;
    }
    for (const id of fresh) pending.set(id, []);
    await listening;
    const missing: string[] = [];
    try {
      // Sequential: the snapshots go out in the order the client asked for them.
      for (const id of fresh) {
        const task = await getOwnTask(db, id, owner).catch((err: unknown) => {
          if (isAppError(err) && err.code === 'not_found') return null;
          throw err;
        });
        if (!task) {
          missing.push(id);
          pending.delete(id);
          continue;
        }
        const snapshot = (await lastEvent(services.cache, id)) ?? {
          ...taskEvent(task),
          type: 'task_status' as const,
          at: new Date().toISOString(),
        };
        if (closed) return;
        send(snapshot);
        const raw = JSON.stringify(snapshot);
        let gone = snapshot.type === 'task_deleted';
        for (const e of pending.get(id) ?? []) {
          // A removal always goes out: a snapshot made up from the row may carry a later clock than it.
          if (e.type === 'task_deleted' ? !gone : e.at >= snapshot.at && JSON.stringify(e) !== raw) send(e);
          gone ||= e.type === 'task_deleted';
        }
        pending.delete(id);
        if (!gone) subscribed.add(id);
      }
    } finally {
      for (const id of fresh) pending.delete(id);
    }
    if (missing.length) sendError('not_found', 'No such download', { task_ids: missing });
    send({ type: 'subscribed', task_ids: ids.filter((id) => subscribed.has(id)) });
  };

  const onMessage = async (data: RawData, isBinary: boolean) => {
    const size = Array.isArray(data)
      ? data.reduce((s, b) => s + b.length, 0)
      : (data as Buffer | ArrayBuffer).byteLength;
    if (size > MAX_MESSAGE_BYTES) {
      socket.close(1009, 'Message too big');
      return;
    }
    let msg: ClientMessage;
    try {
      msg = parseMessage(data, isBinary);
    } catch (err) {
      const e = err as ProtocolError;
      sendError(e.code, e.message, e.details);
      return;
    }
    if (msg.type === 'subscribe_all') {
      all = true;
      await listening;
      send({ type: 'subscribed', all: true });
    } else if (msg.type === 'subscribe') {
      await subscribe(msg.task_ids);
    } else {
      for (const id of msg.task_ids) subscribed.delete(id);
      send({ type: 'unsubscribed', task_ids: msg.task_ids });
    }
  };

  socket.on('message', (data, isBinary) => {
    onMessage(data, isBinary).catch((err: unknown) => {
      req.log.error({ err }, 'websocket message failed');
      sendError('internal_error', 'The message could not be handled');
    });
  });
  socket.on('pong', () => {
    alive = true;
  });
  const ping = setInterval(() => {
    if (!alive) {
      socket.terminate();
      return;
    }
    alive = false;
    socket.ping();
  }, PING_INTERVAL_MS);
  ping.unref();
  socket.on('close', () => {
    closed = true;
    clearInterval(ping);
    unlisten?.();
    pending.clear();
    subscribed.clear();
  });
}

export const wsRoutes: ApiRoutes = async (app, services) => {
  // Registered once per app, whichever route module gets here first.
  if (!app.hasDecorator('websocketServer')) {
    await app.register(websocketPlugin, { options: { maxPayload: MAX_MESSAGE_BYTES } });
  }

  // `wsHandler` rather than `websocket: true`: the plugin hides websocket-only routes from OpenAPI.
  app.route({
    method: 'GET',
    url: WS_PATH,
    schema: {
      tags: ['downloads'],
      summary: 'Live download events over a WebSocket (subscribe to tasks or to all of them)',
      description:
        'Connect with `Upgrade: websocket`. Send `{"type":"subscribe","task_ids":[…]}` (at most ' +
        `${MAX_TASK_IDS_PER_MESSAGE} ids), \`{"type":"unsubscribe","task_ids":[…]}\` or \`{"type":"subscribe_all"}\`. ` +
        'The server sends the last known event of each subscribed task, then every new one: ' +
        '`{"type":"task_progress"|"task_status"|"task_completed"|"task_failed"|"download_complete","task_id",' +
        '"status","progress","bytes_done","bytes_total","speed_bps","eta_seconds","error"?,"file_size"?,"at"}`; ' +
        'when a finished download is removed (DELETE), `{"type":"task_deleted","task_id","at"}` is its last message. ' +
        'A message it cannot use is answered with `{"type":"error","error":{"code","message"}}` and the socket stays open. ' +
        `Messages over ${MAX_MESSAGE_BYTES} bytes close the socket (1009). The server pings every ${PING_INTERVAL_MS / 1000} s.`,
      response: {
        101: Type.Null({ description: 'Switching Protocols: the WebSocket is open' }),
        426: Type.Ref('ErrorResponse', {
          description: 'Upgrade required: this endpoint only speaks WebSocket',
        }) as unknown as typeof ErrorResponse,
      },
    },
    handler: async (req, reply) =>
      reply
        .status(426)
        .header('upgrade', 'websocket')
        .header('connection', 'Upgrade')
        .send(errorBody('bad_request', 'This endpoint speaks WebSocket: connect with Upgrade: websocket')),
    wsHandler: (socket, req) => serveConnection(socket, req, services),
  });
};
