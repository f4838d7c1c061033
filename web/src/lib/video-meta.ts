/**
 * Title, thumbnail and duration of a task's video. Tasks record only their
 * URL, so what the home page looked up is remembered here (per browser), and
 * anything else is asked of /videos/info, which the server answers from its
 * extraction cache.
 */
import { useEffect, useState, useSyncExternalStore } from 'react';
import { api, call } from '../api/client';
import type { VideoInfo } from '../api/types';

export interface VideoMeta {
  title: string;
  thumbnail_url: string | null;
  duration: number | null;
  uploader: string | null;
}

const KEY = 'ytbh.video-meta';
const MAX_ENTRIES = 300;
const MAX_PARALLEL = 2;

function load(): Record<string, VideoMeta> {
  try {
    return (JSON.parse(localStorage.getItem(KEY) ?? '{}') as Record<string, VideoMeta>) ?? {};
  } catch {
    return {};
  }
}

let memo = load();
let version = 0;
const listeners = new Set<() => void>();

/** Re-renders the caller whenever a title becomes known (library search filters on titles). */
export function useVideoMetaVersion(): number {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => version,
  );
}

export function rememberVideo(url: string, info: VideoInfo): void {
  memo[url] = {
    title: info.title,
    thumbnail_url: info.thumbnail_url,
    duration: info.duration,
    uploader: info.uploader,
  };
  version++;
  for (const l of listeners) l();
  const keys = Object.keys(memo);
  if (keys.length > MAX_ENTRIES) for (const k of keys.slice(0, keys.length - MAX_ENTRIES)) delete memo[k];
  try {
    localStorage.setItem(KEY, JSON.stringify(memo));
  } catch {
    /* storage full: the memo is only a convenience */
  }
}

export function knownVideo(url: string): VideoMeta | undefined {
  return memo[url];
}

const inflight = new Map<string, Promise<VideoMeta | null>>();
let running = 0;
const waiting: (() => void)[] = [];

async function lookup(url: string): Promise<VideoMeta | null> {
  if (running >= MAX_PARALLEL) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    const info = await call(api.GET('/api/v2/videos/info', { params: { query: { url } } }));
    rememberVideo(url, info);
    return memo[url] ?? null;
  } catch {
    return null;
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** The video's meta for a task URL; `fetch` asks the server when it is not known here. */
export function useVideoMeta(url: string, fetch: boolean): VideoMeta | null {
  const [meta, setMeta] = useState<VideoMeta | null>(() => knownVideo(url) ?? null);
  useEffect(() => {
    const known = knownVideo(url);
    if (known) {
      setMeta(known);
      return;
    }
    if (!fetch) return;
    let live = true;
    let p = inflight.get(url);
    if (!p) {
      p = lookup(url).finally(() => inflight.delete(url));
      inflight.set(url, p);
    }
    void p.then((m) => live && setMeta(m));
    return () => {
      live = false;
    };
  }, [url, fetch]);
  return meta;
}

export function resetVideoMeta(): void {
  memo = {};
  localStorage.removeItem(KEY);
}
