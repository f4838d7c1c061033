/**
 * The native YouTube engine: InnerTube through youtubei.js, restricted to
 * clients whose answers carry direct URLs (see player.ts).
 *
 * Playlists are not implemented yet (no recorded browse response to test
 * against), so extractPlaylist is left undefined.
 */
import { AppError } from '../../errors/app-error.js';
import type { Extractor } from '../extractor.js';
import { videoMetadata } from './metadata.js';
import { fetchMicroformat, fetchPlayer } from './player.js';
import { matchYoutubeUrl } from './url.js';

export const youtubeExtractor: Extractor = {
  platform: 'youtube',
  match: matchYoutubeUrl,

  async extract(target, ctx) {
    if (target.kind !== 'video') {
      throw new AppError('unsupported_url', 'YouTube playlists are not supported yet', { url: target.url });
    }
    // The microformat request never rejects, so it can run alongside the client chain.
    const [{ player, formats }, microformat] = await Promise.all([
      fetchPlayer(ctx, target.id),
      fetchMicroformat(ctx, target.id),
    ]);
    return {
      platform: 'youtube',
      id: target.id,
      url: target.url,
      ...videoMetadata(player, microformat),
      formats,
      extractor: 'youtube',
    };
  },
};
