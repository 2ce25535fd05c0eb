// A streaming body: a ReadableStream that enqueues 64 chunks of 1 KiB, one per pull.
const CHUNKS = 64;
const CHUNK_BYTES = 1024;
const encoder = new TextEncoder();
const FILLER = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(30);

function chunk(i) {
  const head = `chunk ${String(i).padStart(2, "0")} `;
  return encoder.encode(head + FILLER.slice(0, CHUNK_BYTES - head.length - 1) + "\n");
}

export default {
  fetch() {
    let sent = 0;
    const body = new ReadableStream({
      pull(controller) {
        controller.enqueue(chunk(sent));
        sent += 1;
        if (sent === CHUNKS) controller.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  },
};
