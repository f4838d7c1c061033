/**
 * Live task events over one WebSocket per signed-in tab (GET /api/v2/ws,
 * `subscribe_all`). Reconnects with backoff and a fresh access token;
 * `generation` changes on every (re)connect so views re-read what they may
 * have missed while it was down.
 */
import { createContext, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { withAccessToken } from '../api/client';
import type { LiveEvent } from '../api/types';

type Listener = (e: LiveEvent) => void;

interface Live {
  connected: boolean;
  generation: number;
  listen: (l: Listener) => () => void;
}

const LiveContext = createContext<Live | null>(null);
const MAX_BACKOFF_MS = 15_000;

export function LiveProvider({ userId, children }: { userId: string; children: ReactNode }) {
  const listeners = useRef(new Set<Listener>());
  const [connected, setConnected] = useState(false);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    let socket: WebSocket | null = null;
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const connect = async () => {
      const url = new URL(await withAccessToken('/api/v2/ws'), window.location.href);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      if (stopped) return;
      const ws = new WebSocket(url);
      socket = ws;
      ws.onopen = () => {
        attempt = 0;
        ws.send(JSON.stringify({ type: 'subscribe_all' }));
      };
      ws.onmessage = (m) => {
        let msg: unknown;
        try {
          msg = JSON.parse(String(m.data));
        } catch {
          return;
        }
        const e = msg as { type?: string; all?: boolean; task_id?: unknown };
        if (e.type === 'subscribed' && e.all) {
          setConnected(true);
          setGeneration((g) => g + 1);
        } else if (typeof e.task_id === 'string') {
          for (const l of listeners.current) l(msg as LiveEvent);
        }
      };
      ws.onclose = () => {
        setConnected(false);
        if (stopped) return;
        const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** attempt++);
        timer = setTimeout(() => void connect(), delay);
      };
    };
    void connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      socket?.close();
    };
  }, [userId]);

  const value = useMemo<Live>(
    () => ({
      connected,
      generation,
      listen(l) {
        listeners.current.add(l);
        return () => listeners.current.delete(l);
      },
    }),
    [connected, generation],
  );
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

export function useLive(): Live {
  const ctx = useContext(LiveContext);
  if (!ctx) throw new Error('useLive outside LiveProvider');
  return ctx;
}
