/**
 * Downloads: create (202 + Location; idempotent while active), list, read,
 * cancel, retry, the finished file (Range, ETag, RFC 5987 names) and live
 * events (SSE). Until accounts exist every task belongs to the anonymous
 * owner (user_id null).
 */
import { rm } from 'node:fs/promises';
import { Type } from '@sinclair/typebox';
import type { ApiRoutes } from '../app.js';
import { AppError, errorBody } from '../../errors/app-error.js';
import { DownloadOptionsSchema, resolveOptions, sanitizeFilename } from '../../delivery/options.js';
import { createTask, getOwnTask, listTasks, transition } from '../../delivery/tasks.js';
import { ACTIVE_STATUSES, FINAL_STATUSES } from '../../delivery/task-status.js';
import { lastEvent, type TaskEvent } from '../../delivery/progress.js';
import { workDir } from '../../delivery/pipeline.js';
import { taskEvent } from '../../delivery/progress.js';
import { errorResponses } from '../schemas/common.js';
import { UrlParam } from '../schemas/video.js';
import { TaskSchema, taskView } from '../schemas/task.js';
import { contentDisposition, parseRange } from '../content-disposition.js';
import type { TaskStatus } from '../../infra/db/schema.js';
import type { Platform } from '../../extract/model.js';
import { PLATFORMS } from '../../extract/model.js';

const TaskId = Type.Object({ id: Type.String({ format: 'uuid' }) });
const STATUSES = ['queued', 'extracting', 'downloading', 'processing', 'completed', 'failed', 'cancelled'] as const;
const SSE_HEARTBEAT_MS = 15_000;

export const downloadRoutes: ApiRoutes = async (app, services) => {
  const db = services.database.db;
  const owner: string | null = null;

  app.post(
    '/api/v2/downloads',
    {
      schema: {
        tags: ['downloads'],
        summary: 'Queue a download (the same video and options while active → the same task)',
        body: Type.Object(
          { url: UrlParam, options: Type.Optional(DownloadOptionsSchema) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Ref(TaskSchema),
          202: Type.Ref(TaskSchema),
          ...errorResponses(400, 404, 413, 415, 429, 502, 504),
        },
      },
    },
    async (req, reply) => {
      const options = resolveOptions(req.body.options, null);
      const { target } = await services.extraction.resolve(req.body.url);
      if (target.kind === 'playlist')
        throw new AppError('unsupported_url', 'Playlist downloads are not available yet; queue the entries one by one');
      const { task, created } = await createTask(db, {
        userId: owner,
        url: target.url,
        platform: target.platform,
        videoKey: target.id,
        options: options as unknown as Record<string, unknown>,
        quality: options.quality,
        format: options.format,
        audioOnly: options.audio_only,
      });
      if (created) {
        await services.queue.enqueue(task.id, { group: task.platform });
        await services.publisher.publish('task_status', taskEvent(task));
      }
      reply.header('location', `/api/v2/downloads/${task.id}`);
      return reply.status(created ? 202 : 200).send(taskView(task));
    },
  );

  app.get(
    '/api/v2/downloads',
    {
      schema: {
        tags: ['downloads'],
        summary: 'List downloads, newest first',
        querystring: Type.Object(
          {
            status: Type.Optional(Type.Union(STATUSES.map((s) => Type.Literal(s)))),
            platform: Type.Optional(Type.Union(PLATFORMS.map((p) => Type.Literal(p)))),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(Type.Ref(TaskSchema)),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses(400),
        },
      },
    },
    async (req) => {
      const q = req.query;
      const page = await listTasks(db, {
        userId: owner,
        limit: q.limit ?? 20,
        ...(q.status ? { status: q.status as TaskStatus } : {}),
        ...(q.platform ? { platform: q.platform as Platform } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      return { items: page.items.map(taskView), next_cursor: page.next_cursor };
    },
  );

  app.get(
    '/api/v2/downloads/:id',
    {
      schema: {
        tags: ['downloads'],
        summary: 'One download',
        params: TaskId,
        response: { 200: Type.Ref(TaskSchema), ...errorResponses(400, 404) },
      },
    },
    async (req) => taskView(await getOwnTask(db, req.params.id, owner)),
  );

  app.delete(
    '/api/v2/downloads/:id',
    {
      schema: {
        tags: ['downloads'],
        summary: 'Cancel a download: stops the transfer and removes partial files',
        params: TaskId,
        response: { 200: Type.Ref(TaskSchema), ...errorResponses(400, 404, 409) },
      },
    },
    async (req) => {
      const task = await getOwnTask(db, req.params.id, owner);
      if (FINAL_STATUSES.includes(task.status)) {
        throw new AppError('conflict', `The download is already ${task.status}`, { status: task.status });
      }
      const cancelled = await transition(
        db,
        task.id,
        'cancelled',
        { error_code: null, error_message: null },
        ACTIVE_STATUSES,
      );
      if (!cancelled) throw new AppError('conflict', 'The download finished meanwhile');
      await services.queue.cancel(task.id);
      await rm(workDir(services.config.dataDir, task.id), { recursive: true, force: true });
      await services.publisher.publish('task_status', taskEvent(cancelled));
      return taskView(cancelled);
    },
  );

  app.post(
    '/api/v2/downloads/:id/retry',
    {
      schema: {
        tags: ['downloads'],
        summary: 'Queue a failed or cancelled download again (resumes partial files)',
        params: TaskId,
        response: { 202: Type.Ref(TaskSchema), ...errorResponses(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const task = await getOwnTask(db, req.params.id, owner);
      const queued = await transition(
        db,
        task.id,
        'queued',
        { attempts: 0, error_code: null, error_message: null, progress: 0, completed_at: null },
        ['failed', 'cancelled'],
      ).catch((err: unknown) => {
        if ((err as { code?: string }).code === '23505')
          throw new AppError('conflict', 'The same download is already active');
        throw err;
      });
      if (!queued)
        throw new AppError(
          'conflict',
          `Only failed or cancelled downloads can be retried (this one is ${task.status})`,
        );
      await services.queue.enqueue(queued.id, { group: queued.platform });
      await services.publisher.publish('task_status', taskEvent(queued));
      return reply.status(202).header('location', `/api/v2/downloads/${queued.id}`).send(taskView(queued));
    },
  );

  app.get(
    '/api/v2/downloads/:id/file',
    {
      schema: {
        tags: ['downloads'],
        summary: 'The downloaded file (supports Range requests)',
        params: TaskId,
        querystring: Type.Object({ inline: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: {
          200: Type.Any({ description: 'The media bytes' }),
          206: Type.Any({ description: 'A byte range' }),
          304: Type.Null({ description: 'Not modified' }),
          ...errorResponses(400, 404, 409, 416),
        },
      },
    },
    async (req, reply) => {
      const task = await getOwnTask(db, req.params.id, owner);
      if (task.status !== 'completed' || !task.file_path) {
        throw new AppError('conflict', `The download is ${task.status}, not completed`, { status: task.status });
      }
      const stat = await services.storage.stat(task.file_path);
      if (!stat) throw new AppError('not_found', 'The file is gone from storage');
      const etag = `"${stat.etag.replace(/"/g, '')}"`;
      const ext = task.file_path.slice(task.file_path.lastIndexOf('.') + 1);
      const info = await services.extraction
        .info(task.url)
        .then((r) => r.info)
        .catch(() => null);
      const name = `${sanitizeFilename(null, { id: task.video_key ?? task.id, title: info?.title ?? task.video_key ?? 'download', platform: task.platform })}.${ext}`;
      reply
        .header('accept-ranges', 'bytes')
        .header('etag', etag)
        .header('last-modified', stat.modified.toUTCString())
        .header('content-type', stat.contentType)
        .header('content-disposition', contentDisposition(name, req.query.inline ? 'inline' : 'attachment'));
      if (req.headers['if-none-match'] === etag) return reply.status(304).send(null);
      const ifRange = req.headers['if-range'];
      const range = ifRange && ifRange !== etag ? null : parseRange(req.headers.range, stat.size);
      if (range === 'invalid') {
        reply.removeHeader('content-disposition');
        return reply
          .status(416)
          .type('application/json; charset=utf-8')
          .header('content-range', `bytes */${stat.size}`)
          .send(errorBody('range_not_satisfiable', 'Range not satisfiable', { size: stat.size }));
      }
      if (range) {
        reply
          .status(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${stat.size}`)
          .header('content-length', range.end - range.start + 1);
        return reply.send(await services.storage.read(task.file_path, range));
      }
      reply.header('content-length', stat.size);
      return reply.send(await services.storage.read(task.file_path));
    },
  );

  app.get(
    '/api/v2/downloads/:id/events',
    {
      schema: {
        tags: ['downloads'],
        summary: 'Server-sent events for one download (task_progress, task_status, task_completed, task_failed)',
        params: TaskId,
        response: { 200: Type.Any({ description: 'text/event-stream' }), ...errorResponses(400, 404) },
      },
    },
    async (req, reply) => {
      const task = await getOwnTask(db, req.params.id, owner);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-request-id': req.id,
      });
      const send = (e: TaskEvent) => res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
      const finished = (e: TaskEvent) =>
        FINAL_STATUSES.includes(e.status) || e.type === 'task_completed' || e.type === 'task_failed';
      let closed = false;
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), SSE_HEARTBEAT_MS);
      const stopListening = await services.events.listen((e) => {
        if (closed || e.task_id !== task.id) return;
        send(e);
        if (finished(e)) end();
      });
      function end() {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        stopListening();
        res.end();
      }
      req.raw.on('close', end);
      const latest = (await lastEvent(services.cache, task.id)) ?? {
        ...taskEvent(task),
        type: 'task_status' as const,
        at: new Date().toISOString(),
      };
      send(latest);
      if (FINAL_STATUSES.includes(task.status)) end();
    },
  );
};
