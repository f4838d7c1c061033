/**
 * youtubei.js sessions, one per HttpClient. youtubei.js builds the
 * InnerTube context (client names and versions, device fields, visitor
 * data) and the client-specific headers; every byte goes through
 * HttpClient.fetch, so upstream rewriting applies and global fetch is
 * never used.
 *
 * Session creation is kept fully offline: the context and visitor data
 * are generated locally, and neither the InnerTube config nor the player
 * JS is fetched. Without the player JS nothing can be deciphered, which is
 * why only clients that answer with direct URLs are queried (player.ts).
 */
import { Innertube } from 'youtubei.js';
import { AppError } from '../../errors/app-error.js';
import type { HttpClient } from '../../infra/http-client/http-client.js';

const sessions = new WeakMap<HttpClient, Promise<Innertube>>();

export function innertubeSession(http: HttpClient): Promise<Innertube> {
  let session = sessions.get(http);
  if (!session) {
    session = Innertube.create({
      fetch: routedFetch(http),
      retrieve_player: false,
      generate_session_locally: true,
      retrieve_innertube_config: false,
      enable_session_cache: false,
      lang: 'en',
      location: 'US',
    });
    // A failed creation must not be cached forever.
    session.catch(() => sessions.delete(http));
    sessions.set(http, session);
  }
  return session;
}

/**
 * POSTs a JSON InnerTube request; `body.client` (e.g. 'ANDROID') makes
 * youtubei.js rewrite the context and User-Agent for that client.
 */
export async function innertubePost(
  http: HttpClient,
  url: string,
  body: object,
  signal?: AbortSignal,
): Promise<unknown> {
  const yt = await innertubeSession(http);
  const res = await yt.session.http.fetch(new URL(url), {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' },
    ...(signal ? { signal } : {}),
  });
  try {
    return await res.json();
  } catch {
    throw new AppError('upstream_error', 'InnerTube answered with invalid JSON', { url: stripQuery(url) });
  }
}

/**
 * HttpClient.fetch reads the signal from init only, while youtubei.js puts
 * it on the Request. HTTP failures become AppErrors here, before
 * youtubei.js would wrap them into its own error type.
 */
function routedFetch(http: HttpClient): typeof fetch {
  return async (input, init) => {
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    const res = await http.fetch(input as string | URL | Request, { ...init, ...(signal ? { signal } : {}) });
    if (!res.ok) {
      await res.body?.cancel();
      const url = input instanceof Request ? input.url : input.toString();
      throw new AppError(
        res.status === 429 ? 'rate_limited' : 'upstream_error',
        `YouTube answered HTTP ${res.status}`,
        {
          url: stripQuery(url),
          status: res.status,
        },
      );
    }
    return res;
  };
}

function stripQuery(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}
