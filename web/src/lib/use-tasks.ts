/**
 * A page of downloads kept current: read from the list endpoint (again on
 * every WebSocket (re)connect, for anything missed while it was down), then
 * updated by live events; "load more" follows the cursor.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, call } from '../api/client';
import type { Task } from '../api/types';
import { useLive } from '../app/live';
import { applyEvent, newer } from './tasks';

const PAGE = 50;
type Platform = 'youtube' | 'bilibili' | 'twitch' | 'tiktok' | 'generic';

export interface TaskQuery {
  status?: 'completed';
  platform?: Platform;
}

export interface TaskList {
  items: Task[];
  loading: boolean;
  error: unknown;
  hasMore: boolean;
  loadMore: () => void;
  reload: () => void;
  /** Put a task the page changed (cancel, retry, create) into the list. */
  upsert: (t: Task) => void;
  /** Drop a task the page removed. */
  remove: (id: string) => void;
}

function merge(list: Task[], incoming: Task[], atEnd = false): Task[] {
  const byId = new Map(list.map((t) => [t.id, t]));
  const added: Task[] = [];
  for (const t of incoming) {
    const old = byId.get(t.id);
    if (old) byId.set(t.id, newer(old, t));
    else {
      byId.set(t.id, t);
      added.push(t);
    }
  }
  const kept = list.map((t) => byId.get(t.id)!);
  const fresh = added.map((t) => byId.get(t.id)!);
  const all = atEnd ? [...kept, ...fresh] : [...fresh, ...kept];
  return all.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
}

export function useTasks(query: TaskQuery): TaskList {
  const live = useLive();
  const [items, setItems] = useState<Task[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const known = useRef(new Set<string>());
  const fetching = useRef(new Set<string>());
  const { status, platform } = query;

  /** Set once "load more" ran: a re-read of the first page must not rewind the cursor. */
  const extended = useRef(false);
  // Answers to a query the page has moved away from are dropped.
  const queryKey = `${status ?? ''}|${platform ?? ''}`;
  const currentQuery = useRef(queryKey);
  currentQuery.current = queryKey;

  const fetchPage = useCallback(
    async (after: string | null) => {
      setLoading(true);
      try {
        const asked = `${status ?? ''}|${platform ?? ''}`;
        const q = { limit: PAGE, ...(status ? { status } : {}), ...(platform ? { platform } : {}) };
        const page = await call(
          api.GET('/api/v2/downloads', { params: { query: after ? { ...q, cursor: after } : q } }),
        );
        if (currentQuery.current !== asked) return;
        setError(null);
        setItems((prev) => merge(prev, page.items, after !== null));
        if (after !== null) extended.current = true;
        if (after !== null || !extended.current) setCursor(page.next_cursor);
      } catch (err) {
        setError(err);
      } finally {
        setLoading(false);
      }
    },
    [status, platform],
  );

  // A new query starts from scratch.
  useEffect(() => {
    setItems([]);
    setCursor(null);
    extended.current = false;
  }, [status, platform]);

  useEffect(() => {
    void fetchPage(null);
  }, [fetchPage, live.generation]);

  useEffect(() => {
    known.current = new Set(items.map((t) => t.id));
  }, [items]);

  useEffect(
    () =>
      live.listen((e) => {
        if (known.current.has(e.task_id)) {
          setItems((prev) => prev.map((t) => (t.id === e.task_id ? applyEvent(t, e) : t)));
          return;
        }
        // A task this list does not show yet (made in another tab, or just completed for the library):
        // read it once, however many events arrive meanwhile.
        if ((status && e.status !== status) || fetching.current.has(e.task_id)) return;
        fetching.current.add(e.task_id);
        void call(api.GET('/api/v2/downloads/{id}', { params: { path: { id: e.task_id } } }))
          .then(
            (t) => {
              if ((!status || t.status === status) && (!platform || t.platform === platform))
                setItems((prev) => merge(prev, [t]));
            },
            () => {},
          )
          .finally(() => fetching.current.delete(e.task_id));
      }),
    [live, status, platform],
  );

  return {
    items,
    loading,
    error,
    hasMore: cursor !== null,
    loadMore: () => cursor && void fetchPage(cursor),
    reload: () => void fetchPage(null),
    upsert: (t) => setItems((prev) => merge(prev, [t])),
    remove: (id) => setItems((prev) => prev.filter((t) => t.id !== id)),
  };
}
