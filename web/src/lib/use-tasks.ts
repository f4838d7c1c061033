/**
 * A page of downloads kept current: read from the list endpoint (again on
 * every WebSocket (re)connect, for anything missed while it was down), then
 * updated by live events, which also drop removed downloads (`task_deleted`,
 * from any tab); "load more" follows the cursor.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, call } from '../api/client';
import type { Task } from '../api/types';
import { useLive } from '../app/live';
import { applyToList, newer } from './tasks';

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

/**
 * Before merging a re-read first page: a task the list held when the read began that is missing
 * from the page, though it is not older than the page reaches, was removed meanwhile (while the
 * socket was down, say).
 */
function prune(list: Task[], page: { items: Task[]; next_cursor: string | null }, held: Set<string>): Task[] {
  const ids = new Set(page.items.map((t) => t.id));
  const oldest = page.items.at(-1)?.created_at;
  const beyond = (t: Task) => page.next_cursor !== null && oldest !== undefined && t.created_at <= oldest;
  return list.filter((t) => !held.has(t.id) || ids.has(t.id) || beyond(t));
}

export function useTasks(query: TaskQuery): TaskList {
  const live = useLive();
  const [items, setItems] = useState<Task[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const known = useRef(new Set<string>());
  const fetching = useRef(new Set<string>());
  /** Removed while this page is open: a read that started before the removal must not bring it back. */
  const gone = useRef(new Set<string>());
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
        const held = new Set(known.current);
        const q = { limit: PAGE, ...(status ? { status } : {}), ...(platform ? { platform } : {}) };
        const page = await call(
          api.GET('/api/v2/downloads', { params: { query: after ? { ...q, cursor: after } : q } }),
        );
        if (currentQuery.current !== asked) return;
        setError(null);
        const fresh = page.items.filter((t) => !gone.current.has(t.id));
        setItems((prev) => (after === null ? merge(prune(prev, page, held), fresh) : merge(prev, fresh, true)));
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
        if (e.type === 'task_deleted') gone.current.add(e.task_id);
        if (e.type === 'task_deleted' || known.current.has(e.task_id)) {
          setItems((prev) => applyToList(prev, e));
          return;
        }
        // A task this list does not show yet (made in another tab, or just completed for the library):
        // read it once, however many events arrive meanwhile.
        if ((status && e.status !== status) || fetching.current.has(e.task_id)) return;
        fetching.current.add(e.task_id);
        void call(api.GET('/api/v2/downloads/{id}', { params: { path: { id: e.task_id } } }))
          .then(
            (t) => {
              if (gone.current.has(t.id)) return;
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
    remove: (id) => {
      gone.current.add(id);
      setItems((prev) => prev.filter((t) => t.id !== id));
    },
  };
}
