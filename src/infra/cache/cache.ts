/**
 * The cache port: TTL keys, atomic counters and pub/sub. Holds only what can
 * be rebuilt (info, progress, counters); the database holds the truth.
 */
export type CacheKind = 'memory' | 'redis';

export type Unsubscribe = () => Promise<void>;

export interface Cache {
  readonly kind: CacheKind;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Sets only when absent (SET NX); true when this call set it. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Atomic increment; the TTL is set when the counter is created (fixed window). */
  incr(key: string, ttlSeconds?: number): Promise<number>;
  /** Remaining TTL in ms; -1 when the key has none, -2 when it is missing. */
  ttlMs(key: string): Promise<number>;
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function getJson<T>(cache: Cache, key: string): Promise<T | null> {
  const raw = await cache.get(key);
  return raw === null ? null : (JSON.parse(raw) as T);
}

export async function setJson(cache: Cache, key: string, value: unknown, ttlSeconds?: number): Promise<void> {
  await cache.set(key, JSON.stringify(value), ttlSeconds);
}
