/** Named shapes of the API, from the generated OpenAPI types. */
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type { paths };
export type VideoInfo = Schemas['VideoInfo'];
export type Format = Schemas['Format'];
export type Playlist = Schemas['Playlist'];
export type Task = Schemas['DownloadTask'];
export type User = Schemas['User'];
export type ApiKey = Schemas['ApiKey'];

/** One update of a task from the WebSocket (src/http/routes/ws.ts). */
export interface TaskEvent {
  type: 'task_progress' | 'task_status' | 'task_completed' | 'task_failed' | 'download_complete';
  task_id: string;
  status: string;
  progress: number;
  bytes_done: number;
  bytes_total: number | null;
  speed_bps: number | null;
  eta_seconds: number | null;
  error?: { code: string; message: string };
  file_size?: number;
  at: string;
}

/** A task removed with its files (in any tab or client): views drop it. */
export interface TaskDeletedEvent {
  type: 'task_deleted';
  task_id: string;
  at: string;
}

/** Everything the WebSocket sends about a task. */
export type LiveEvent = TaskEvent | TaskDeletedEvent;
