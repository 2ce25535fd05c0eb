// Service-worker syntax: a "fetch" event listener on the global scope.
addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  event.respondWith(
    new Response(`Hello from a service worker at ${url.pathname}\n`, {
      headers: { "content-type": "text/plain; charset=utf-8" },
    }),
  );
});
