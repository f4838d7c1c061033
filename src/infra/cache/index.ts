import type { Cache } from './cache.js';
import { MemoryCache } from './memory-cache.js';
import { RedisCache } from './redis-cache.js';

export type { Cache, CacheKind } from './cache.js';
export { getJson, setJson } from './cache.js';

/** REDIS_URL set → Redis; otherwise the in-process cache. */
export function openCache(redisUrl: string | undefined, keyPrefix = ''): Cache {
  return redisUrl ? new RedisCache(redisUrl, keyPrefix) : new MemoryCache();
}
