/**
 * Prometheus metrics. One registry per app instance (tests run several in a
 * process). The seed's download metrics keep their exact names and labels.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status_code'>;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  downloadRequests: Counter<'platform' | 'user_tier' | 'status'>;
  downloadDuration: Histogram<'platform' | 'quality'>;
  activeDownloads: Gauge;
  storageUsage: Gauge<'user_id'>;
  extractions: Counter<'platform' | 'engine' | 'outcome'>;
  /** Where storage_usage_bytes is read from at each scrape (the database); unset, the gauge stays empty. */
  setStorageUsageSource(source: StorageUsageSource): void;
}

export type StorageUsageSource = () => Promise<{ user_id: string; bytes: number }[]>;

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let storageSource: StorageUsageSource | undefined;
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    downloadRequests: new Counter({
      name: 'download_requests_total',
      help: 'Download requests by platform, user tier and outcome',
      labelNames: ['platform', 'user_tier', 'status'],
      registers,
    }),
    downloadDuration: new Histogram({
      name: 'download_duration_seconds',
      help: 'Time from task start to completion',
      labelNames: ['platform', 'quality'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    }),
    activeDownloads: new Gauge({ name: 'active_downloads_total', help: 'Downloads in progress', registers }),
    storageUsage: new Gauge({
      name: 'storage_usage_bytes',
      help: 'Stored bytes per user',
      labelNames: ['user_id'],
      registers,
      // Set from the database when scraped, so every api process reports the same truth.
      async collect() {
        if (!storageSource) return;
        let rows: Awaited<ReturnType<StorageUsageSource>>;
        try {
          rows = await storageSource();
        } catch {
          return; // a database hiccup keeps the last values rather than failing the whole scrape
        }
        this.reset();
        for (const r of rows) this.set({ user_id: r.user_id }, r.bytes);
      },
    }),
    extractions: new Counter({
      name: 'extractions_total',
      help: 'Video info extractions by platform, engine and outcome (cache hits included)',
      labelNames: ['platform', 'engine', 'outcome'],
      registers,
    }),
    setStorageUsageSource(source) {
      storageSource = source;
    },
  };
}
