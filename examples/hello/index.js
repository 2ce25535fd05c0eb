// The smallest worker: module syntax.
export default {
  fetch(request, env, ctx) {
    return new Response("Hello World\n", {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  },
};
