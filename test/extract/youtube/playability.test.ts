import { describe, expect, it } from 'vitest';
import { playabilityError } from '../../../src/extract/youtube/playability.js';
import { loadPlayer } from './load-fixture.js';

describe('playabilityError on recorded player responses', () => {
  it.each([
    ['innertube-2026/7PIMiDcwNvc.android.reel_item_watch.response.json', null],
    ['innertube-2026/7PIMiDcwNvc.visionos.player.response.json', null],
    ['innertube-2026/X4VbdwhkE10.live.visionos.player.response.json', null],
    ['web-2024-invidious/2isYuQZMbdU.web.player.json', null],
    ['innertube-2026/8VajtrESJzA.private.android.reel_item_watch.response.json', 'private'],
    ['innertube-2026/ayI2iBwGdxw.paid.android.reel_item_watch.response.json', 'payment_required'],
    ['innertube-2026/_PL2HJKxnOM.restricted.android.reel_item_watch.response.json', 'region_blocked'],
    ['innertube-2026/don-t-exist.nonexistent.android.reel_item_watch.response.json', 'not_found'],
    ['watch-2021-pytube/irauhITDrsE.agerestricted.innertube-player.json', 'age_restricted'],
    ['web-2024-invidious/scheduled-live.web.player.json', 'live_not_started'],
  ])('%s → %s', (file, code) => {
    expect(playabilityError(loadPlayer(file), 'x')?.code ?? null).toBe(code);
  });

  it('keeps the reason and the scheduled start of an upcoming stream', () => {
    const err = playabilityError(loadPlayer('web-2024-invidious/scheduled-live.web.player.json'), 'N-yVic7BbY0');
    expect(err?.message).toBe('This live event will begin in 18 hours.');
    expect(err?.details).toMatchObject({ status: 'LIVE_STREAM_OFFLINE', scheduled_start: '2023-02-28T14:00:00.000Z' });
  });
});

// Statuses with no recording in the fixtures, in the shapes YouTube sends them.
describe('playabilityError on reason texts', () => {
  it.each([
    ['LOGIN_REQUIRED', "Sign in to confirm you're not a bot", 'login_required'],
    ['LOGIN_REQUIRED', 'Sign in to confirm your age', 'age_restricted'],
    ['LOGIN_REQUIRED', 'Please sign in', 'login_required'],
    ['AGE_VERIFICATION_REQUIRED', undefined, 'age_restricted'],
    ['UNPLAYABLE', 'This video requires payment to watch.', 'payment_required'],
    ['UNPLAYABLE', 'Video unavailable', 'unavailable'],
    ['ERROR', 'Video unavailable', 'not_found'],
    ['ERROR', 'This video has been removed by the uploader', 'unavailable'],
    ['LIVE_STREAM_OFFLINE', 'This live stream recording is not available.', 'unavailable'],
  ] as const)('%s "%s" → %s', (status, reason, code) => {
    expect(playabilityError({ playabilityStatus: { status, ...(reason ? { reason } : {}) } }, 'x')?.code).toBe(code);
  });

  it('reads the reason from the error screen when `reason` is missing', () => {
    const err = playabilityError(
      {
        playabilityStatus: {
          status: 'UNPLAYABLE',
          errorScreen: {
            playerErrorMessageRenderer: { reason: { runs: [{ text: 'Not available in your country' }] } },
          },
        },
      },
      'x',
    );
    expect(err?.code).toBe('region_blocked');
    expect(err?.message).toBe('Not available in your country');
  });
});
