/**
 * One error type for the whole service. The code is part of the public API
 * (it is what clients switch on); the HTTP status is derived from it.
 */
export const ERROR_STATUS = {
  invalid_url: 400,
  unsupported_url: 400,
  validation_failed: 400,
  invalid_json: 400,
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  private: 404,
  unavailable: 404,
  method_not_allowed: 405,
  conflict: 409,
  removed: 410,
  payload_too_large: 413,
  uri_too_long: 414,
  range_not_satisfiable: 416,
  unsupported_media_type: 415,
  age_restricted: 403,
  login_required: 403,
  region_blocked: 451,
  payment_required: 402,
  live_not_started: 409,
  quota_exceeded: 429,
  rate_limited: 429,
  internal_error: 500,
  upstream_error: 502,
  /** object storage (local disk or S3) failed; the operation changed nothing the user would lose */
  storage_error: 502,
  not_ready: 503,
  upstream_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }

  get statusCode(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return errorBody(this.code, this.message, this.details);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
