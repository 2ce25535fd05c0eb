// HTMLRewriter throughput (bench/htmlrewriter.sh): a page of `?mib=N` MiB, streamed from a
// 64 KiB block of a product listing, through a rewriter. `?handlers=none` registers handlers
// whose selectors never match (the parser's own speed); `?handlers=edit` (the default) makes
// every link https, marks every image lazy and reads every price.
const block = (() => {
  let html = "";
  for (let i = 0; html.length < 65536 - 400; i++) {
    html += `<li class="product"><a href="http://shop.example/item/${i}"><img src="/img/${i}.jpg" alt="Item ${i}"></a>` +
      `<h2>Item number ${i}</h2><p class="price">${(i * 1.37).toFixed(2)} EUR</p><!-- sku ${i} --></li>\n`;
  }
  return new TextEncoder().encode(html.padEnd(65536, " "));
})();

export default {
  fetch(request) {
    const url = new URL(request.url);
    const chunks = Math.round(Number(url.searchParams.get("mib") ?? "8") * 16);
    let sent = 0;
    const source = new ReadableStream({
      pull(controller) {
        if (sent++ < chunks) controller.enqueue(block);
        else controller.close();
      },
    });
    const page = new Response(source, { headers: { "content-type": "text/html; charset=utf-8" } });
    if (url.searchParams.get("handlers") === "none") {
      return new HTMLRewriter().on("blink", { element() {} }).transform(page);
    }
    let prices = 0;
    return new HTMLRewriter()
      .on("a[href]", { element(el) { el.setAttribute("href", el.getAttribute("href").replace("http:", "https:")); } })
      .on("img", { element(el) { el.setAttribute("loading", "lazy"); } })
      .on("p.price", { text(t) { if (t.text) prices++; } })
      .transform(page);
  },
};
