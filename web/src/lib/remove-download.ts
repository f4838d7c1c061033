/** Removing a finished download (its files and the task) from any page. */
import { api, call } from '../api/client';
import { ApiError } from '../api/errors';

export async function removeDownload(id: string): Promise<void> {
  try {
    await call(api.DELETE('/api/v2/downloads/{id}', { params: { path: { id } } }));
  } catch (err) {
    // Already gone (removed in another tab): what the user asked for.
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
}
