/**
 * Downloads: create (202 + Location; idempotent while active), batches,
 * playlists (a parent task with one child task per entry), list, read,
 * cancel, retry, the finished file (Range, ETag, RFC 5987 names) and live
 * events (SSE). Tasks belong to the signed-in user: creating one counts
 * against their quota (accounts/quotas.ts, 429 quota_exceeded) and fills
 * the options they leave out from their preferences.
 *
 * A playlist parent is never enqueued: its status, progress and byte counts
 * are derived from its children (tasks.ts aggregateParent, run on every
 * child status change and on reads of the parent). DELETE on an active
 * download cancels it (a parent: its active children); on a finished one it
 * removes the stored files and the task (task-removal.ts). Retry re-queues
 * failed and cancelled downloads (a parent: its failed and cancelled children).
 */
import { rm } from 'node:fs/promises';
import { Type } from '@sinclair/typebox';
import type { ApiRoutes } from '../app.js';
import { AppError, errorBody } from '../../errors/app-error.js';
import { DownloadOptionsSchema, resolveOptions, sanitizeFilename } from '../../delivery/options.js';
import {
  aggregateParent,
  cancelChildren,
  emptyCounts,
  getOwnTask,
  isParentTask,
  listTasks,
  requeueChildren,
  transition,
  type StatusCounts,
} from '../../delivery/tasks.js';
import { createBatch, createDownload, MAX_BATCH_URLS, type CreatedDownload } from '../../delivery/batch.js';
import { removePlaylist, removeTask } from '../../delivery/task-removal.js';
import { videosOfTasks, type TaskVideo } from '../../delivery/task-videos.js';
import type { DownloadTask } from '../../infra/db/schema.js';
import { MAX_URL_LENGTH } from '../../infra/http-client/ssrf-guard.js';
import { ACTIVE_STATUSES, FINAL_STATUSES } from '../../delivery/task-status.js';
import { lastEvent, type TaskChannelEvent, type TaskEvent } from '../../delivery/progress.js';
import { workDir } from '../../delivery/pipeline.js';
import { taskEvent } from '../../delivery/progress.js';
import { errorResponses } from '../schemas/common.js';
import { UrlParam } from '../schemas/video.js';
import { TaskSchema, taskView, thumbnailUrl } from '../schemas/task.js';
import { contentDisposition, parseRange } from '../content-disposition.js';
import type { TaskStatus } from '../../infra/db/schema.js';
import type { Platform } from '../../extract/model.js';
import { PLATFORMS } from '../../extract/model.js';
import { ownerOf } from '../owner.js';
import { sidecarKey, SUBTITLE_CONTENT_TYPES, subtitleRecordOf } from '../../delivery/subtitles.js';
import { LANGUAGE_PATTERN, MAX_LANGUAGE_LENGTH } from '../../delivery/options.js';
import { downloadPreferences } from '../../accounts/preferences.js';
import { retryAfterSeconds } from '../../accounts/quotas.js';

const TaskId = Type.Object({ id: Type.String({ format: 'uuid' }) });
const STATUSES = ['queued', 'extracting', 'downloading', 'processing', 'completed', 'failed', 'cancelled'] as const;
const SSE_HEARTBEAT_MS = 15_000;
/** Derived progress events of a playlist parent go out at most this often. */
const PARENT_EVENT_INTERVAL_MS = 500;

const Count = Type.Integer({ minimum: 0 });
const ChildCountsSchema = Type.Object(
  {
    total: Count,
    queued: Count,
    extracting: Count,
    downloading: Count,
    processing: Count,
    completed: Count,
    failed: Count,
    cancelled: Count,
  },
  { description: 'A playlist parent’s children by status' },
);
const ErrorSchema = Type.Object({ code: Type.String(), message: Type.String() });
const PlaylistSummarySchema = Type.Object(
  {
    id: Type.Union([Type.String(), Type.Null()]),
    title: Type.Union([Type.String(), Type.Null()]),
    entries_found: Count,
    children_count: Count,
    truncated: Type.Boolean({ description: 'the playlist has more entries than the cap allowed to queue' }),
    beyond_cap_count: Count,
    beyond_cap: Type.Array(Type.Object({ url: Type.String(), title: Type.Union([Type.String(), Type.Null()]) })),
    next_page: Type.Union([Type.String(), Type.Null()]),
    skipped: Type.Array(Type.Object({ url: Type.String(), error: ErrorSchema })),
  },
  { description: 'What a playlist request queued and left out' },
);
/** A task, plus for playlist parents their children (counts) and, on creation, the playlist summary. */
const DownloadViewSchema = Type.Intersect([
  Type.Ref(TaskSchema),
  Type.Object({
    children_count: Type.Optional(Count),
    children: Type.Optional(ChildCountsSchema),
    playlist: Type.Optional(PlaylistSummarySchema),
  }),
]);
const PlaylistFlag = Type.Optional(
  Type.Boolean({
    description:
      'true: download the URL as a playlist; false: as one video; absent: detect (generic pages are listed with yt-dlp)',
  }),
);

function createdView(c: CreatedDownload, video?: TaskVideo) {
  return {
    ...taskView(c.task, video),
    ...(c.children_count !== undefined ? { children_count: c.children_count } : {}),
    ...(c.playlist ? { playlist: c.playlist } : {}),
  };
}

function parentView(task: DownloadTask, counts: StatusCounts) {
  return { ...taskView(task), children_count: counts.total, children: counts };
}

/** A stored object's ETag as a quoted HTTP entity tag. */
const entityTag = (etag: string) => `"${etag.replace(/"/g, '')}"`;

export const downloadRoutes: ApiRoutes = async (app, services) => {
  const db = services.database.db;
  /** A task with what its video row says (title, thumbnail, …). */
  const viewOf = async (t: DownloadTask) => taskView(t, (await videosOfTasks(db, [t])).get(t.id));
  const removal = {
    db,
    storage: services.storage,
    dataDir: services.config.dataDir,
    log: services.log,
    publisher: services.publisher,
  };

  const createDeps = {
    db,
    extraction: services.extraction,
    queue: services.queue,
    publisher: services.publisher,
    log: services.log,
  };

  app.post(
    '/api/v2/downloads',
    {
      schema: {
        tags: ['downloads'],
        summary:
          'Queue a download (the same video and options while active → the same task); a playlist URL queues a parent task with one child per entry',
        body: Type.Object(
          { url: UrlParam, options: Type.Optional(DownloadOptionsSchema), playlist: PlaylistFlag },
          { additionalProperties: false },
        ),
        response: {
          200: DownloadViewSchema,
          202: DownloadViewSchema,
          ...errorResponses(400, 404, 413, 415, 429, 502, 504),
        },
      },
    },
    async (req, reply) => {
      const userId = ownerOf(req);
      // What the request leaves out comes from the user's preferences.
      const options = resolveOptions(req.body.options, await downloadPreferences(db, userId));
      const made = await createDownload(createDeps, {
        url: req.body.url,
        options,
        userId,
        playlist: req.body.playlist,
      }).catch((err: unknown) => {
        const retryAfter = retryAfterSeconds(err);
        if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
        throw err;
      });
      reply.header('location', `/api/v2/downloads/${made.task.id}`);
      const videos = await videosOfTasks(db, [made.task]);
      return reply.status(made.created ? 202 : 200).send(createdView(made, videos.get(made.task.id)));
    },
  );

  app.post(
    '/api/v2/downloads/batch',
    {
      schema: {
        tags: ['downloads'],
        summary: `Queue up to ${MAX_BATCH_URLS} downloads at once; each URL succeeds or fails on its own`,
        body: Type.Object(
          {
            urls: Type.Array(Type.String({ minLength: 1, maxLength: MAX_URL_LENGTH }), {
              minItems: 1,
              maxItems: MAX_BATCH_URLS,
            }),
            options: Type.Optional(DownloadOptionsSchema),
            playlist: PlaylistFlag,
          },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({
            items: Type.Array(
              Type.Object({
                url: Type.String(),
                task: Type.Optional(DownloadViewSchema),
                error: Type.Optional(ErrorSchema),
              }),
              { description: 'One item per URL, in request order; a URL given twice maps to the same task' },
            ),
          }),
          ...errorResponses(400, 413, 415, 429),
        },
      },
    },
    async (req, reply) => {
      const userId = ownerOf(req);
      const options = resolveOptions(req.body.options, await downloadPreferences(db, userId));
      const items = await createBatch(createDeps, {
        urls: req.body.urls,
        options,
        userId,
        playlist: req.body.playlist,
      });
      const videos = await videosOfTasks(
        db,
        items.flatMap((i) => (i.result ? [i.result.task] : [])),
      );
      return reply.status(202).send({
        items: items.map((i) => ({
          url: i.url,
          ...(i.result ? { task: createdView(i.result, videos.get(i.result.task.id)) } : {}),
          ...(i.error ? { error: i.error } : {}),
        })),
      });
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
            parent_id: Type.Optional(
              Type.String({ format: 'uuid', description: 'only the children of this playlist' }),
            ),
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
        userId: ownerOf(req),
        limit: q.limit ?? 20,
        ...(q.status ? { status: q.status as TaskStatus } : {}),
        ...(q.platform ? { platform: q.platform as Platform } : {}),
        ...(q.parent_id ? { parentId: q.parent_id } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      const videos = await videosOfTasks(db, page.items);
      return { items: page.items.map((t) => taskView(t, videos.get(t.id))), next_cursor: page.next_cursor };
    },
  );

  app.get(
    '/api/v2/downloads/:id',
    {
      schema: {
        tags: ['downloads'],
        summary: 'One download (a playlist parent with its aggregated progress and children by status)',
        params: TaskId,
        response: { 200: DownloadViewSchema, ...errorResponses(400, 404) },
      },
    },
    async (req) => {
      const task = await getOwnTask(db, req.params.id, ownerOf(req));
      if (!isParentTask(task)) return viewOf(task);
      const agg = await aggregateParent(db, task.id);
      return parentView(agg?.task ?? task, agg?.counts ?? emptyCounts());
    },
  );

  app.delete(
    '/api/v2/downloads/:id',
    {
      schema: {
        tags: ['downloads'],
        summary: 'Cancel an active download, or remove a finished one with its files',
        description:
          'An active download (queued, extracting, downloading, processing) is cancelled: the transfer stops, partial ' +
          'files are removed, and the answer is the cancelled task (200). A finished one (completed, failed, ' +
          'cancelled) is removed: its stored media, thumbnail and sidecar subtitles, then the task itself (204; ' +
          'storage usage drops accordingly). So a first DELETE cancels and a second one removes. A playlist ' +
          'follows its derived status: while any entry is active, DELETE cancels those entries; once all are ' +
          'finished, it removes every entry and the playlist. When storage cannot delete a file the task is kept ' +
          '(502 `storage_error`) and DELETE can be sent again.',
        params: TaskId,
        response: {
          200: DownloadViewSchema,
          204: Type.Null({ description: 'Removed with its files' }),
          ...errorResponses(400, 404, 409, 502),
        },
      },
    },
    async (req, reply) => {
      const task = await currentOwnTask(req.params.id, ownerOf(req));
      if (!FINAL_STATUSES.includes(task.status)) return cancelActive(task);
      await (isParentTask(task) ? removePlaylist(removal, task) : removeTask(removal, task));
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v2/downloads/:id/cancel',
    {
      schema: {
        tags: ['downloads'],
        summary: 'Cancel an active download (never removes a finished one)',
        description:
          'Stops the transfer and removes partial files; the answer is the cancelled task. Unlike DELETE, a ' +
          'download that has already finished is left alone (409 `conflict`), so a Cancel pressed just as a ' +
          'download completes cannot delete its file. A playlist cancels its active entries.',
        params: TaskId,
        response: { 200: DownloadViewSchema, ...errorResponses(400, 404, 409) },
      },
    },
    async (req) => {
      const task = await currentOwnTask(req.params.id, ownerOf(req));
      if (FINAL_STATUSES.includes(task.status)) {
        throw new AppError('conflict', `The download is already ${task.status}`, { status: task.status });
      }
      return cancelActive(task);
    },
  );

  app.post(
    '/api/v2/downloads/:id/retry',
    {
      schema: {
        tags: ['downloads'],
        summary:
          'Queue a failed or cancelled download again (resumes partial files; a playlist: its failed and cancelled entries)',
        params: TaskId,
        response: { 202: DownloadViewSchema, ...errorResponses(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const task = await getOwnTask(db, req.params.id, ownerOf(req));
      if (isParentTask(task)) {
        const view = await retryParent(task);
        return reply.status(202).header('location', `/api/v2/downloads/${task.id}`).send(view);
      }
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
      return reply
        .status(202)
        .header('location', `/api/v2/downloads/${queued.id}`)
        .send(await viewOf(queued));
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
      const task = await getOwnTask(db, req.params.id, ownerOf(req));
      if (task.status !== 'completed' || !task.file_path) {
        throw new AppError('conflict', `The download is ${task.status}, not completed`, { status: task.status });
      }
      const stat = await services.storage.stat(task.file_path);
      if (!stat) throw new AppError('not_found', 'The file is gone from storage');
      const etag = entityTag(stat.etag);
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
    '/api/v2/downloads/:id/thumbnail',
    {
      schema: {
        tags: ['downloads'],
        summary: 'The JPEG thumbnail a completed video download stored (its `thumbnail_url` points here)',
        params: TaskId,
        response: {
          200: Type.Any({ description: 'image/jpeg' }),
          304: Type.Null({ description: 'Not modified' }),
          ...errorResponses(400, 404),
        },
      },
    },
    async (req, reply) => {
      const task = await getOwnTask(db, req.params.id, ownerOf(req));
      const key = thumbnailUrl(task) ? task.thumbnail_path : null;
      if (!key) throw new AppError('not_found', 'The download has no stored thumbnail');
      const stat = await services.storage.stat(key);
      if (!stat) throw new AppError('not_found', 'The thumbnail is gone from storage');
      const etag = entityTag(stat.etag);
      // Private: the image is one user's; the URL may carry their access token.
      reply
        .header('etag', etag)
        .header('cache-control', 'private, max-age=86400')
        .header('last-modified', stat.modified.toUTCString())
        .header('x-content-type-options', 'nosniff');
      if (req.headers['if-none-match'] === etag) return reply.status(304).send(null);
      return reply
        .header('content-type', 'image/jpeg')
        .header('content-length', stat.size)
        .send(await services.storage.read(key));
    },
  );

  app.get(
    '/api/v2/downloads/:id/subtitles/:lang',
    {
      schema: {
        tags: ['downloads'],
        summary: 'A sidecar subtitle file of a completed download (see `subtitles.files` on the task)',
        params: Type.Object({
          id: Type.String({ format: 'uuid' }),
          lang: Type.String({ minLength: 1, maxLength: MAX_LANGUAGE_LENGTH, pattern: LANGUAGE_PATTERN }),
        }),
        querystring: Type.Object({ inline: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: {
          200: Type.Any({ description: 'WebVTT or SRT' }),
          ...errorResponses(400, 404, 409),
        },
      },
    },
    async (req, reply) => {
      const task = await getOwnTask(db, req.params.id, ownerOf(req));
      if (task.status !== 'completed' || !task.file_path) {
        throw new AppError('conflict', `The download is ${task.status}, not completed`, { status: task.status });
      }
      const file = subtitleRecordOf(task.selected_formats)?.files.find((f) => f.language === req.params.lang);
      if (!file) throw new AppError('not_found', 'The download has no sidecar subtitles in that language');
      const key = sidecarKey(task.file_path, file.language, file.format);
      const stat = await services.storage.stat(key);
      if (!stat) throw new AppError('not_found', 'The subtitle file is gone from storage');
      // Named like the media file (players pick up `{name}.{lang}.vtt` next to `{name}.mp4`).
      const info = await services.extraction
        .info(task.url)
        .then((r) => r.info)
        .catch(() => null);
      const name = `${sanitizeFilename(null, { id: task.video_key ?? task.id, title: info?.title ?? task.video_key ?? 'download', platform: task.platform })}.${file.language}.${file.format}`;
      return reply
        .header('content-type', SUBTITLE_CONTENT_TYPES[file.format])
        .header('x-content-type-options', 'nosniff')
        .header('content-length', stat.size)
        .header('content-disposition', contentDisposition(name, req.query.inline ? 'inline' : 'attachment'))
        .send(await services.storage.read(key));
    },
  );

  app.get(
    '/api/v2/downloads/:id/events',
    {
      schema: {
        tags: ['downloads'],
        summary:
          'Server-sent events for one download (task_progress, task_status, task_completed, task_failed; task_deleted when it is removed)',
        description:
          'The stream starts with the latest state and ends with the event that finishes the download: ' +
          '`task_completed`, `task_failed`, a cancelled `task_status`, or `task_deleted` ' +
          '(`{"type":"task_deleted","task_id","at"}`) when it is removed while the stream is open.',
        params: TaskId,
        response: { 200: Type.Any({ description: 'text/event-stream' }), ...errorResponses(400, 404) },
      },
    },
    async (req, reply) => {
      const task = await getOwnTask(db, req.params.id, ownerOf(req));
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-request-id': req.id,
      });
      const send = (e: TaskChannelEvent) => res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
      const finished = (e: TaskChannelEvent) =>
        e.type === 'task_deleted' ||
        FINAL_STATUSES.includes(e.status) ||
        e.type === 'task_completed' ||
        e.type === 'task_failed';
      let closed = false;
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), SSE_HEARTBEAT_MS);
      // A playlist parent publishes nothing of its own while its children run: its events are derived here.
      const parent = isParentTask(task) ? await parentEvents(task) : null;
      const stopListening = await services.events.listen((e) => {
        if (closed) return;
        if (e.task_id === task.id) {
          send(e);
          if (finished(e)) end();
        } else if (parent?.childIds.has(e.task_id)) {
          parent.onChildEvent(e);
        }
      });
      function end() {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        stopListening();
        res.end();
      }
      req.raw.on('close', end);
      if (parent) {
        await parent.refresh();
        return;
      }
      const latest = (await lastEvent(services.cache, task.id)) ?? {
        ...taskEvent(task),
        type: 'task_status' as const,
        at: new Date().toISOString(),
      };
      send(latest);
      if (FINAL_STATUSES.includes(task.status)) end();

      async function parentEvents(p: DownloadTask) {
        const rows = await db.selectFrom('download_tasks').select('id').where('parent_id', '=', p.id).execute();
        let lastStatus: string | null = null;
        let lastRefresh = 0;
        let pending: NodeJS.Timeout | null = null;
        const refresh = async (): Promise<void> => {
          lastRefresh = Date.now();
          const agg = await aggregateParent(db, p.id).catch(() => undefined);
          if (!agg || closed) return;
          const t = agg.task;
          const final = FINAL_STATUSES.includes(t.status);
          const type: TaskEvent['type'] = final
            ? t.status === 'completed'
              ? 'task_completed'
              : t.status === 'failed'
                ? 'task_failed'
                : 'task_status'
            : t.status !== lastStatus
              ? 'task_status'
              : 'task_progress';
          lastStatus = t.status;
          send({ ...taskEvent(t), type, at: new Date().toISOString() });
          if (final) end();
        };
        return {
          childIds: new Set(rows.map((r) => r.id)),
          refresh,
          /** Status changes refresh at once; progress at most every PARENT_EVENT_INTERVAL_MS. */
          onChildEvent(e: TaskChannelEvent) {
            if (pending) return;
            const wait =
              e.type === 'task_progress' ? Math.max(0, lastRefresh + PARENT_EVENT_INTERVAL_MS - Date.now()) : 0;
            pending = setTimeout(() => {
              pending = null;
              void refresh();
            }, wait);
          },
        };
      }
    },
  );

  /** One of the caller's tasks as it stands now: a playlist's status derived afresh from its entries. */
  async function currentOwnTask(id: string, owner: ReturnType<typeof ownerOf>) {
    const task = await getOwnTask(db, id, owner);
    return isParentTask(task) ? ((await aggregateParent(db, task.id))?.task ?? task) : task;
  }

  /** Cancels an active download (a playlist: its active entries). */
  function cancelActive(task: DownloadTask) {
    return isParentTask(task) ? cancelParent(task) : cancelTask(task);
  }

  async function cancelTask(task: DownloadTask) {
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
    return viewOf(cancelled);
  }

  /** Cancels the active entries of a playlist download that is still active (`parent`: its aggregated row). */
  async function cancelParent(parent: DownloadTask) {
    const cancelled = await cancelChildren(db, parent.id);
    for (const child of cancelled) {
      await services.queue.cancel(child.id);
      await rm(workDir(services.config.dataDir, child.id), { recursive: true, force: true });
      await services.publisher.publish('task_status', taskEvent(child));
    }
    let after = await aggregateParent(db, parent.id);
    if (after && after.counts.total === 0) {
      // A parent whose children were never created: nothing derives its state, so it is cancelled itself.
      const own = await transition(db, parent.id, 'cancelled', {}, ACTIVE_STATUSES);
      if (own) after = { ...after, task: own };
    }
    const task = after?.task ?? parent;
    await services.publisher.publish('task_status', taskEvent(task));
    return parentView(task, after?.counts ?? emptyCounts());
  }

  async function retryParent(parent: DownloadTask) {
    const before = await aggregateParent(db, parent.id);
    const current = before?.task ?? parent;
    const counts = before?.counts ?? emptyCounts();
    if (!['failed', 'cancelled'].includes(current.status) || counts.failed + counts.cancelled === 0) {
      throw new AppError(
        'conflict',
        `Only playlists with failed or cancelled entries can be retried (this one is ${current.status})`,
      );
    }
    // The parent goes active first: another active download of the same playlist and options is a conflict.
    const queued = await transition(
      db,
      parent.id,
      'queued',
      { error_code: null, error_message: null, completed_at: null },
      ['failed', 'cancelled'],
    ).catch((err: unknown) => {
      if ((err as { code?: string }).code === '23505')
        throw new AppError('conflict', 'The same playlist download is already active');
      throw err;
    });
    if (!queued) throw new AppError('conflict', 'The playlist download changed state meanwhile');
    const children = await requeueChildren(db, parent.id);
    for (const child of children) {
      await services.queue.enqueue(child.id, { group: child.platform });
      await services.publisher.publish('task_status', taskEvent(child));
    }
    const after = await aggregateParent(db, parent.id);
    const task = after?.task ?? queued;
    await services.publisher.publish('task_status', taskEvent(task));
    return parentView(task, after?.counts ?? counts);
  }
};
