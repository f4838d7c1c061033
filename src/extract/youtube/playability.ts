/**
 * playabilityStatus → AppError. YouTube reports most failures with a
 * generic status (LOGIN_REQUIRED covers private videos, age gates and bot
 * checks; UNPLAYABLE covers members-only and geo-blocks), so the reason
 * text decides. Rules are ordered: the first one that fits wins.
 */
import { AppError, type ErrorCode } from '../../errors/app-error.js';
import { textOf, type RawPlayabilityStatus, type RawPlayerResponse } from './player-response.js';

interface Rule {
  code: ErrorCode;
  test: (status: string, text: string, ps: RawPlayabilityStatus) => boolean;
}

const RULES: readonly Rule[] = [
  { code: 'private', test: (_s, t) => /\bvideo is private\b|\bprivate video\b/i.test(t) },
  { code: 'login_required', test: (_s, t) => /not a bot/i.test(t) },
  {
    code: 'age_restricted',
    test: (s, t, ps) =>
      s === 'AGE_CHECK_REQUIRED' ||
      s === 'AGE_VERIFICATION_REQUIRED' ||
      ps.desktopLegacyAgeGateReason !== undefined ||
      /confirm your age|age[- ]restricted|inappropriate for some users/i.test(t),
  },
  // An ended stream without a recording is also LIVE_STREAM_OFFLINE, but will never start.
  {
    code: 'unavailable',
    test: (s, t) => s === 'LIVE_STREAM_OFFLINE' && /recording is not available|has ended/i.test(t),
  },
  { code: 'live_not_started', test: (s) => s === 'LIVE_STREAM_OFFLINE' },
  { code: 'region_blocked', test: (_s, t) => /\bcountry\b|\bregion\b/i.test(t) },
  {
    code: 'payment_required',
    test: (_s, t, ps) =>
      /\bmembers?\b|\bmembership\b|\bpurchase\b|\brent(al)?\b|\bpayment\b|\bpaid\b/i.test(t) ||
      Object.keys(ps.errorScreen ?? {}).some((k) => k.startsWith('ypc') || k.includes('Ypc')),
  },
  { code: 'login_required', test: (s) => s === 'LOGIN_REQUIRED' },
  { code: 'unavailable', test: (s, t) => s === 'ERROR' && /removed|terminated|no longer available/i.test(t) },
  { code: 'not_found', test: (s) => s === 'ERROR' },
];

/** Null when the video can be played; otherwise the error to report. */
export function playabilityError(player: RawPlayerResponse, videoId: string): AppError | null {
  const ps = player.playabilityStatus;
  // A field-masked answer for an id YouTube does not know is exactly `{}`.
  if (!ps?.status) return new AppError('not_found', 'Video not found', { video_id: videoId });
  if (ps.status === 'OK') return null;

  const reason = ps.reason ?? textOf(ps.errorScreen?.playerErrorMessageRenderer?.reason);
  const text = [
    reason,
    ps.reasonTitle,
    ...(ps.messages ?? []),
    textOf(ps.errorScreen?.playerErrorMessageRenderer?.subreason),
  ]
    .filter(Boolean)
    .join('\n');
  const code = RULES.find((r) => r.test(ps.status as string, text, ps))?.code ?? 'unavailable';
  const details: Record<string, unknown> = { video_id: videoId, status: ps.status, reason: reason ?? null };
  const start =
    ps.liveStreamability?.liveStreamabilityRenderer?.offlineSlate?.liveStreamOfflineSlateRenderer?.scheduledStartTime;
  if (code === 'live_not_started' && start) details.scheduled_start = new Date(Number(start) * 1000).toISOString();
  return new AppError(code, reason ?? `Video is not playable (${ps.status})`, details);
}
