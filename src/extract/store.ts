/** Upserts extracted videos into `videos` (seed columns; the rest in metadata jsonb); returns the row's id. */
import type { Kysely } from 'kysely';
import type { DB } from '../infra/db/schema.js';
import type { VideoInfo } from './model.js';

const MAX_TEXT = 100_000;

function clip(s: string | null, max = MAX_TEXT): string | null {
  return s === null ? null : s.slice(0, max);
}

export async function upsertVideo(db: Kysely<DB>, canonicalUrl: string, info: VideoInfo): Promise<string> {
  const metadata = {
    extractor: info.extractor,
    format_count: info.formats.length,
    chapters: info.chapters ?? [],
    subtitle_languages: Object.keys(info.subtitles ?? {}),
    image_count: info.images?.length ?? 0,
    page_url: info.url,
  };
  const row = {
    platform: info.platform,
    video_id: info.id,
    url: canonicalUrl,
    title: clip(info.title, 2000) ?? '',
    description: clip(info.description),
    duration: info.duration === null ? null : Math.round(info.duration),
    uploader: clip(info.uploader, 500),
    uploader_id: clip(info.uploader_id, 500),
    upload_date: /^\d{4}-\d{2}-\d{2}$/.test(info.upload_date ?? '') ? info.upload_date : null,
    view_count: info.view_count,
    like_count: info.like_count,
    thumbnail_url: clip(info.thumbnail_url, 4096),
    tags: info.tags.slice(0, 100).map((t) => t.slice(0, 200)),
    is_live: info.is_live,
    metadata: JSON.stringify(metadata),
  };
  const stored = await db
    .insertInto('videos')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['url', 'platform']).doUpdateSet((eb) => ({
        video_id: eb.ref('excluded.video_id'),
        title: eb.ref('excluded.title'),
        description: eb.ref('excluded.description'),
        duration: eb.ref('excluded.duration'),
        uploader: eb.ref('excluded.uploader'),
        uploader_id: eb.ref('excluded.uploader_id'),
        upload_date: eb.ref('excluded.upload_date'),
        view_count: eb.ref('excluded.view_count'),
        like_count: eb.ref('excluded.like_count'),
        thumbnail_url: eb.ref('excluded.thumbnail_url'),
        tags: eb.ref('excluded.tags'),
        is_live: eb.ref('excluded.is_live'),
        metadata: eb.ref('excluded.metadata'),
        updated_at: new Date(),
      })),
    )
    .returning('id')
    .executeTakeFirstOrThrow();
  return stored.id;
}
