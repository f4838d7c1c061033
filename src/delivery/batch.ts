/**
 * Creating downloads from URLs: one video → one task (idempotent while
 * active); a playlist → one PARENT task (never enqueued, its state derived
 * from its children, see tasks.ts) plus one enqueued CHILD task per entry,
 * up to MAX_PLAYLIST_ENTRIES; and batches of up to MAX_BATCH_URLS URLs,
 * each handled on its own (one bad URL fails only its own item).
 *
 * Generic (yt-dlp) URLs do not say whether they are playlists: unless the
 * caller says so (`playlist: true | false`), a generic URL that is not a
 * plain media file is listed with yt-dlp `--flat-playlist` first; several
 * entries (or one entry at another address) make it a playlist. A listing
 * that fails leaves the URL a single video, so its task reports the error.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { AppError, isAppError } from '../errors/app-error.js';
import type { ExtractionService } from '../extract/service.js';
import type { Target } from '../extract/extractor.js';
import type { Playlist, PlaylistEntry } from '../extract/model.js';
import type { DB, DownloadTask } from '../infra/db/schema.js';
import type { JobQueue } from '../infra/queue/queue.js';
import type { DownloadOptions } from './options.js';
import { taskEvent, type ProgressPublisher } from './progress.js';
import { aggregateParent, childCounts, createChildTasks, createTask, type NewChild } from './tasks.js';
import { withQuota } from '../accounts/quotas.js';

/** Entries queued per playlist; the rest are reported, not queued. */
export const MAX_PLAYLIST_ENTRIES = 500;
export const MAX_BATCH_URLS = 50;
/** URLs of one batch handled at once (a playlist URL runs yt-dlp). */
export const BATCH_CONCURRENCY = 4;
/** Entries beyond the cap listed by URL in the response (the count is always given). */
const MAX_REPORTED_BEYOND_CAP = 100;
/** Entries resolved at once (short links may need a request). */
const RESOLVE_CONCURRENCY = 8;

/** Paths that are media files or manifests, never pages listing several videos. */
const MEDIA_PATH = /\.(mp4|m4v|m4a|mov|webm|mkv|mp3|ogg|oga|opus|flac|wav|aac|ts|m3u8|mpd|flv|avi|3gp)$/i;

export interface CreateDeps {
  db: Kysely<DB>;
  extraction: ExtractionService;
  queue: JobQueue;
  publisher: ProgressPublisher;
  log: Logger;
}

export interface CreateRequest {
  url: string;
  options: DownloadOptions;
  userId: string | null;
  /** true: expand as a playlist; false: never; undefined: detect */
  playlist?: boolean | undefined;
}

export interface SkippedEntry {
  url: string;
  error: { code: string; message: string };
}

export interface PlaylistSummary {
  id: string | null;
  title: string | null;
  /** entries listed (up to the cap, plus any seen beyond it) */
  entries_found: number;
  children_count: number;
  /** the playlist has more entries than were queued */
  truncated: boolean;
  /** how many listed entries were left out by the cap (more may exist: see next_page) */
  beyond_cap_count: number;
  /** the first entries left out by the cap */
  beyond_cap: Array<{ url: string; title: string | null }>;
  /** the playlist page after the last one read, when the cap stopped the listing (for /playlists) */
  next_page: string | null;
  /** entries that could not be queued (unsupported URLs, over the quota; duplicates are merged silently) */
  skipped: SkippedEntry[];
}

export interface CreatedDownload {
  task: DownloadTask;
  created: boolean;
  /** set for playlists */
  children_count?: number;
  playlist?: PlaylistSummary;
}

function looksLikeMediaFile(url: string): boolean {
  try {
    return MEDIA_PATH.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return a === b;
  }
}

/** Runs `fn` over `items` with at most `limit` at once, keeping order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>) {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

export function errorOf(err: unknown, log?: Logger): { code: string; message: string } {
  if (isAppError(err)) return { code: err.code, message: err.message };
  log?.error({ err }, 'download could not be created');
  return { code: 'internal_error', message: 'The download could not be created' };
}

/** Whether a resolved URL is to be downloaded as a playlist; returns its first page when it is. */
async function detectPlaylist(
  deps: CreateDeps,
  target: Target,
  explicit: boolean | undefined,
): Promise<{ playlist: boolean; firstPage?: Playlist }> {
  if (explicit === false) return { playlist: false };
  if (target.kind === 'playlist') return { playlist: true };
  // Only generic URLs can hide a playlist behind an ordinary address.
  if (target.platform !== 'generic') return { playlist: false };
  if (explicit !== true && looksLikeMediaFile(target.url)) return { playlist: false };
  try {
    const first = await deps.extraction.playlist(target.url);
    const several =
      first.entries.length > 1 ||
      !!first.next_page ||
      (first.entries.length === 1 && !sameUrl(first.entries[0]!.url, target.url));
    if (explicit === true || several) return { playlist: true, firstPage: first };
    return { playlist: false };
  } catch (err) {
    if (explicit === true) throw err;
    deps.log.debug({ err, url: target.url }, 'playlist detection failed; downloading as a single video');
    return { playlist: false };
  }
}

/** Creates the download for one URL: a task, or a playlist parent with its children. */
export async function createDownload(deps: CreateDeps, req: CreateRequest): Promise<CreatedDownload> {
  const { target } = await deps.extraction.resolve(req.url);
  const detected = await detectPlaylist(deps, target, req.playlist);
  if (!detected.playlist) {
    if (target.kind === 'playlist')
      throw new AppError('unsupported_url', 'This URL is a playlist; ask for it with playlist: true', {
        url: target.url,
      });
    return createSingle(deps, req, target);
  }
  return createPlaylist(deps, req, target, detected.firstPage);
}

async function createSingle(deps: CreateDeps, req: CreateRequest, target: Target): Promise<CreatedDownload> {
  const { options } = req;
  // Counted against the user's quota in the transaction that inserts it; an existing active twin costs nothing.
  const { task, created } = await withQuota(deps.db, req.userId, async (trx, allowance) => {
    const made = await createTask(trx, {
      userId: req.userId,
      url: target.url,
      platform: target.platform,
      videoKey: target.id,
      options: options as unknown as Record<string, unknown>,
      quality: options.quality,
      format: options.format,
      audioOnly: options.audio_only,
    });
    if (made.created) allowance.take(1);
    return made;
  });
  if (created) {
    await deps.queue.enqueue(task.id, { group: task.platform });
    await deps.publisher.publish('task_status', taskEvent(task));
  }
  return { task, created };
}

export interface Listing {
  playlist: Playlist;
  entries: PlaylistEntry[];
  beyond: PlaylistEntry[];
  nextPage: string | null;
}

/** Reads pages until the cap or the end; what is listed beyond the cap is kept apart. */
export async function listEntries(
  deps: Pick<CreateDeps, 'extraction'>,
  url: string,
  firstPage: Playlist | undefined,
  cap = MAX_PLAYLIST_ENTRIES,
): Promise<Listing> {
  let page = firstPage ?? (await deps.extraction.playlist(url));
  const playlist = page;
  const entries: PlaylistEntry[] = [];
  const beyond: PlaylistEntry[] = [];
  for (;;) {
    for (const e of page.entries) (entries.length < cap ? entries : beyond).push(e);
    const next = page.next_page ?? null;
    if (!next) return { playlist, entries, beyond, nextPage: null };
    if (entries.length >= cap) return { playlist, entries, beyond, nextPage: next };
    page = await deps.extraction.playlist(url, next);
  }
}

async function createPlaylist(
  deps: CreateDeps,
  req: CreateRequest,
  target: Target,
  firstPage: Playlist | undefined,
): Promise<CreatedDownload> {
  const listing = await listEntries(deps, target.url, firstPage);
  const skipped: SkippedEntry[] = [];
  const resolved = await mapLimit(listing.entries, RESOLVE_CONCURRENCY, async (e) => {
    try {
      const { target: t } = await deps.extraction.resolve(e.url);
      if (t.kind === 'playlist') throw new AppError('unsupported_url', 'Nested playlists are not expanded');
      return { url: t.url, platform: t.platform, videoKey: t.id } satisfies NewChild;
    } catch (err) {
      skipped.push({ url: e.url, error: errorOf(err, deps.log) });
      return null;
    }
  });
  const seen = new Set<string>();
  const children = resolved.filter((c): c is NewChild => {
    if (!c || seen.has(c.url)) return false;
    seen.add(c.url);
    return true;
  });
  if (!children.length) {
    throw new AppError('unsupported_url', 'The playlist has no entries that can be downloaded', {
      url: target.url,
      skipped,
    });
  }

  const truncated = listing.beyond.length > 0 || listing.nextPage !== null;
  const summary: Omit<PlaylistSummary, 'children_count'> = {
    id: listing.playlist.id || null,
    title: listing.playlist.title ?? null,
    entries_found: listing.entries.length + listing.beyond.length,
    truncated,
    beyond_cap_count: listing.beyond.length,
    beyond_cap: listing.beyond.slice(0, MAX_REPORTED_BEYOND_CAP).map((e) => ({ url: e.url, title: e.title })),
    next_page: listing.nextPage,
    skipped,
  };
  const { options } = req;
  // Children count one each against the quota: as many as it allows are queued, the rest reported as skipped.
  const { parent, created, rows, overQuota } = await withQuota(deps.db, req.userId, async (trx, allowance) => {
    const made = await createTask(trx, {
      userId: req.userId,
      url: target.url,
      platform: target.platform,
      videoKey: listing.playlist.id || target.id,
      options: options as unknown as Record<string, unknown>,
      quality: options.quality,
      format: options.format,
      audioOnly: options.audio_only,
      selectedFormats: {
        playlist: { id: summary.id, title: summary.title, entries: children.length, truncated },
      },
    });
    if (!made.created) return { parent: made.task, created: false, rows: [] as DownloadTask[], overQuota: null };
    const fit = Math.min(children.length, allowance.remaining);
    if (fit === 0) throw allowance.exceeded();
    allowance.take(fit);
    const over = fit < children.length ? { entries: children.slice(fit), error: allowance.exceeded() } : null;
    return {
      parent: made.task,
      created: true,
      rows: await createChildTasks(trx, made.task, children.slice(0, fit)),
      overQuota: over,
    };
  });
  if (overQuota) {
    const error = { code: overQuota.error.code, message: overQuota.error.message };
    for (const c of overQuota.entries) skipped.push({ url: c.url, error });
  }
  if (!created) {
    // The same playlist with the same options is still running: that parent answers.
    const counts = await childCounts(deps.db, parent.id);
    return {
      task: parent,
      created: false,
      children_count: counts.total,
      playlist: { ...summary, children_count: counts.total, skipped: [] },
    };
  }
  for (const child of rows) {
    await deps.queue.enqueue(child.id, { group: child.platform });
    await deps.publisher.publish('task_status', taskEvent(child));
  }
  const task = (await aggregateParent(deps.db, parent.id))?.task ?? parent;
  await deps.publisher.publish('task_status', taskEvent(task));
  return {
    task,
    created: true,
    children_count: rows.length,
    playlist: { ...summary, children_count: rows.length },
  };
}

export interface BatchItem {
  url: string;
  result?: CreatedDownload;
  error?: { code: string; message: string };
}

/** Each URL on its own, in order; the same URL twice shares one result (one task). */
export async function createBatch(
  deps: CreateDeps,
  req: Omit<CreateRequest, 'url'> & { urls: readonly string[] },
): Promise<BatchItem[]> {
  const memo = new Map<string, Promise<Omit<BatchItem, 'url'>>>();
  const once = (url: string): Promise<Omit<BatchItem, 'url'>> => {
    let p = memo.get(url);
    if (!p) {
      p = createDownload(deps, { ...req, url }).then(
        (result) => ({ result }),
        (err: unknown) => ({ error: errorOf(err, deps.log) }),
      );
      memo.set(url, p);
    }
    return p;
  };
  return mapLimit(req.urls, BATCH_CONCURRENCY, async (url) => ({ url, ...(await once(url.trim())) }));
}
