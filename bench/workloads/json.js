// A JSON API: build 100 records, serialise them, parse them back, keep those that match the
// query, and answer with JSON. `?tag=` picks the tag (red, green, blue, amber), `?page=` the ids.
const TAGS = ["red", "green", "blue", "amber"];
const CITIES = ["Lisbon", "Osaka", "Quito", "Tallinn", "Accra", "Perth", "Bergen"];

function buildRecords(page) {
  const records = [];
  for (let i = 0; i < 100; i++) {
    const id = page * 100 + i;
    records.push({
      id,
      name: `Product ${id}`,
      price: ((id * 7919) % 10000) / 100,
      inStock: id % 3 !== 0,
      tags: [TAGS[i % 4], TAGS[(i + 1) % 4]],
      seller: { id: i % 17, name: `seller-${i % 17}`, city: CITIES[i % CITIES.length] },
      ratings: [i % 5, (i + 2) % 5, (i + 4) % 5],
      updated: new Date(Date.UTC(2026, 0, 1 + (i % 28))).toISOString(),
    });
  }
  return records;
}

export default {
  fetch(request) {
    const url = new URL(request.url);
    const tag = url.searchParams.get("tag") ?? "red";
    const page = Number(url.searchParams.get("page") ?? "0") || 0;
    const stored = JSON.stringify(buildRecords(page));
    const items = JSON.parse(stored).filter((r) => r.inStock && r.tags.includes(tag));
    const total = items.reduce((sum, r) => sum + r.price, 0);
    return Response.json({ page, tag, count: items.length, total: Math.round(total * 100) / 100, items });
  },
};
