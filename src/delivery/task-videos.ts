/**
 * What a task shows about its video (title, uploader, duration, platform
 * thumbnail), read from the `videos` row extraction stored. The pipeline links
 * a task to its row (`video_id`) when it starts; a task still waiting has no
 * link yet, but its URL usually was looked up already (the dashboard asks for
 * the formats first), so it is matched by canonical URL and platform — the
 * row's unique key.
 */
import type { Kysely } from 'kysely';
import type { DB, DownloadTask } from '../infra/db/schema.js';

export interface TaskVideo {
  title: string | null;
  uploader: string | null;
  duration: number | null;
  /** the platform's thumbnail */
  thumbnail_url: string | null;
}

type VideoRow = TaskVideo & { id: string; url: string; platform: string };

const COLUMNS = ['id', 'url', 'platform', 'title', 'uploader', 'duration', 'thumbnail_url'] as const;

/** The video of each task that has one known, by task id (one query per kind of match). */
export async function videosOfTasks(
  db: Kysely<DB>,
  tasks: readonly Pick<DownloadTask, 'id' | 'video_id' | 'url' | 'platform'>[],
): Promise<Map<string, TaskVideo>> {
  const ids = [...new Set(tasks.flatMap((t) => (t.video_id ? [t.video_id] : [])))];
  const urls = [...new Set(tasks.flatMap((t) => (t.video_id ? [] : [t.url])))];
  const [byId, byUrl] = await Promise.all([
    ids.length ? db.selectFrom('videos').select(COLUMNS).where('id', 'in', ids).execute() : [],
    urls.length ? db.selectFrom('videos').select(COLUMNS).where('url', 'in', urls).execute() : [],
  ]);
  const rowById = new Map<string, VideoRow>(byId.map((r) => [r.id, r]));
  const rowByUrl = new Map<string, VideoRow>(byUrl.map((r) => [`${r.platform} ${r.url}`, r]));
  const out = new Map<string, TaskVideo>();
  for (const t of tasks) {
    const row = t.video_id ? rowById.get(t.video_id) : rowByUrl.get(`${t.platform} ${t.url}`);
    if (row) {
      out.set(t.id, {
        // An untitled video is stored as '' (the column is not null): shown as "no title".
        title: row.title || null,
        uploader: row.uploader,
        duration: row.duration,
        thumbnail_url: row.thumbnail_url,
      });
    }
  }
  return out;
}
