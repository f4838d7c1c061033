/**
 * The service worker: keeps the app shell (this build's HTML, scripts,
 * styles, manifest, icons) so the dashboard opens instantly and offline.
 * It never caches API responses or media: those are private, large and
 * change; every /api request goes straight to the network.
 */
/// <reference lib="webworker" />
// A module, so this typed `self` shadows the generic worker global.
export {};
declare const self: ServiceWorkerGlobalScope;

// Filled in at build time (web/vite.config.ts) with this build's files and their hash.
const SHELL: string[] = [/* SHELL_FILES */];
const VERSION: string = /* BUILD_VERSION */ 'dev';
const CACHE = `ytbh-shell-${VERSION}`;
const NEVER_CACHED = /^\/(api|docs|metrics)(\/|$)/;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(keys.filter((k) => k.startsWith('ytbh-shell-') && k !== CACHE).map((k) => caches.delete(k))),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || NEVER_CACHED.test(url.pathname)) return;
  if (req.mode === 'navigate') {
    // Network first so a new release shows at once; the cached shell when offline (every page is the same SPA).
    event.respondWith(
      fetch(req).catch(() => caches.match('/', { cacheName: CACHE }).then((r) => r ?? Response.error())),
    );
    return;
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(req, { cacheName: CACHE }).then((hit) => hit ?? fetch(req)));
  }
});
