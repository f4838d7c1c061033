/** Small HTTP helpers shared by the account API tests. */
import { fetchWith, login, type Fetch } from '../support/auth.js';

export type Body = Record<string, any>;

export interface Answer {
  status: number;
  headers: Headers;
  body: Body;
}

/** Calls `fetch` with a JSON body (when given) and parses the JSON answer ({} for an empty one). */
export async function call(f: Fetch, url: string, method = 'GET', body?: unknown): Promise<Answer> {
  const res = await f(url, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Body) : {} };
}

/** A signed-in session (not an API key): a fetch that sends its access token. */
export async function session(baseUrl: string, loginName: string, password: string) {
  const s = await login(baseUrl, loginName, password);
  return { ...s, fetch: fetchWith({ authorization: `Bearer ${s.access_token}` }) };
}

export async function waitUntil<T>(
  fn: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
