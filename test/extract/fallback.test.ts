import { describe, expect, it } from 'vitest';
import { AppError, type ErrorCode } from '../../src/errors/app-error.js';
import { shouldFallBackToYtdlp } from '../../src/extract/fallback.js';

describe('yt-dlp fallback after a native extractor fails', () => {
  it('retries when our parser broke or the answer was not understood', () => {
    expect(shouldFallBackToYtdlp(new TypeError("Cannot read properties of undefined (reading 'title')"))).toBe(true);
    expect(shouldFallBackToYtdlp(new AppError('upstream_error', 'Upstream answered with invalid JSON'))).toBe(true);
  });

  it.each<ErrorCode>([
    'private',
    'removed',
    'not_found',
    'age_restricted',
    'login_required',
    'region_blocked',
    'payment_required',
    'live_not_started',
    'rate_limited',
    'invalid_url',
    'upstream_timeout',
  ])('never when the platform said %s', (code) => {
    expect(shouldFallBackToYtdlp(new AppError(code, 'definite answer'))).toBe(false);
  });
});
