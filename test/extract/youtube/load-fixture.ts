import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FIXTURES_DIR } from '../../support/replay-server.js';
import type { RawPlayerResponse } from '../../../src/extract/youtube/player-response.js';

/** A recorded player response; reel_item_watch answers are unwrapped from `playerResponse`. */
export function loadPlayer(file: string): RawPlayerResponse {
  const json = JSON.parse(readFileSync(path.join(FIXTURES_DIR, 'youtube', file), 'utf8')) as
    (RawPlayerResponse & { playerResponse?: RawPlayerResponse }) | null;
  return json?.playerResponse ?? json ?? {};
}
