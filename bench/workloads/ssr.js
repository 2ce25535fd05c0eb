// Server-side rendering: an HTML page with a table of 200 rows, built as strings, every value
// escaped. The rows come from a seed in the query (`?seed=`), as from a database per request.
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escape = (value) => String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);

const STATUSES = ["open", "shipped", "held <review>", "returned & refunded"];

function rows(seed) {
  const out = [];
  for (let i = 0; i < 200; i++) {
    const n = seed * 200 + i;
    out.push({
      id: n,
      customer: `Customer "${n % 97}" <c${n % 97}@example.com>`,
      status: STATUSES[n % STATUSES.length],
      amount: ((n * 2654435761) % 100000) / 100,
      note: n % 5 === 0 ? "Fragile: handle with care & keep dry" : "",
    });
  }
  return out;
}

function render(seed, data) {
  let html = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">";
  html += `<title>Orders, page ${escape(seed)}</title></head><body><h1>Orders</h1>`;
  html += "<table><thead><tr><th>#</th><th>Customer</th><th>Status</th><th>Amount</th><th>Note</th></tr></thead><tbody>";
  for (const row of data) {
    html += `<tr class="${row.id % 2 ? "odd" : "even"}"><td>${row.id}</td><td>${escape(row.customer)}</td>`;
    html += `<td>${escape(row.status)}</td><td>${row.amount.toFixed(2)}</td><td>${escape(row.note)}</td></tr>`;
  }
  return html + `</tbody></table><p>${data.length} orders</p></body></html>`;
}

export default {
  fetch(request) {
    const seed = Number(new URL(request.url).searchParams.get("seed") ?? "0") || 0;
    return new Response(render(seed, rows(seed)), {
      headers: { "content-type": "text/html; charset=utf-8" },
    });
  },
};
