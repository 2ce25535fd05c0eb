// Streams a large generated body: nothing is buffered whole. GET /?mb=100 sends 100 MiB.
const CHUNK = new Uint8Array(64 * 1024).fill(0x61);

export default {
  fetch(request) {
    const mb = Number(new URL(request.url).searchParams.get("mb") ?? "10");
    let remaining = Math.max(0, Math.min(mb, 1024)) * 1024 * 1024;
    const body = new ReadableStream({
      pull(controller) {
        if (remaining <= 0) {
          controller.close();
          return;
        }
        const size = Math.min(remaining, CHUNK.length);
        controller.enqueue(size === CHUNK.length ? CHUNK.slice() : CHUNK.slice(0, size));
        remaining -= size;
      },
    });
    return new Response(body, { headers: { "content-type": "application/octet-stream" } });
  },
};
