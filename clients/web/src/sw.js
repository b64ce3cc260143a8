// Doorstep service worker: keeps the app shell (HTML, JS, CSS, icons) in a cache so the app
// opens with no network. Case data never passes through here: /api/ and /sync/ requests go
// straight to the network, and the replica lives in IndexedDB, encrypted.
const VERSION = "__SW_VERSION__";
const CACHE = `doorstep-shell-${VERSION}`;
const PRECACHE = __PRECACHE__;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(PRECACHE.map((path) => new Request(path, { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("doorstep-shell-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

const scope = new URL(self.registration.scope);

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  if (request.mode === "navigate") {
    // Every page of the app is the same shell (routes live in the hash): cache first, so a
    // reload without signal opens at once; a new version arrives with a new worker.
    event.respondWith((async () => {
      const cached = await caches.match(new URL("./", scope).href, { cacheName: CACHE });
      return cached || fetch(request);
    })());
    return;
  }
  event.respondWith((async () => {
    const cached = await caches.match(request, { cacheName: CACHE, ignoreSearch: true });
    return cached || fetch(request);
  })());
});
