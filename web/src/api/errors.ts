/** Errors from the API as the UI shows them: the server's code and message, never a blank page. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  static fromBody(status: number, body: unknown): ApiError {
    const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      return new ApiError(status, e.code, e.message, e.details);
    }
    return new ApiError(status, `http_${status}`, `The server answered ${status}.`);
  }
}

/** Code and message of anything thrown, for display. */
export function errorInfo(err: unknown): { code: string; message: string } {
  if (err instanceof ApiError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: 'client_error', message: err.message };
  return { code: 'client_error', message: String(err) };
}
