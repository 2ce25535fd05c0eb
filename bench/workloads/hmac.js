// HMAC-SHA256 signing with crypto.subtle: the key is imported once per isolate; each request's
// method, path and body are signed, and the signature is answered in hex.
const SECRET = "bench-signing-secret-0123456789abcdef";
const encoder = new TextEncoder();
let key; // a Promise<CryptoKey>, made by the first request this isolate serves

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
function toHex(buffer) {
  let out = "";
  for (const byte of new Uint8Array(buffer)) out += HEX[byte];
  return out;
}

export default {
  async fetch(request) {
    key ??= crypto.subtle.importKey("raw", encoder.encode(SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const url = new URL(request.url);
    const body = request.body ? await request.text() : "";
    const message = `${request.method}\n${url.pathname}${url.search}\n${body}`;
    const signature = await crypto.subtle.sign("HMAC", await key, encoder.encode(message));
    return new Response(`${toHex(signature)}\n`, { headers: { "content-type": "text/plain" } });
  },
};
