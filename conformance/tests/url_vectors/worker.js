// Checks the tenant global's URL and URLSearchParams against one file of the WPT URL test
// vectors. The test posts a vector file to /NAME (urltestdata, setters_tests, ...) and gets back
// [{"name", "ok", "message"}] for every case. Each check follows what the upstream test of that
// file asserts (url-constructor, url-origin, url-setters, toascii, IdnaTestV2); the vectors
// are data, the checks are written here.

// Case names must survive JSON on the Rust side: code points outside printable ASCII (lone
// surrogates included) are shown as \u{XXXX}.
function show(value) {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    out += unit >= 0x20 && unit < 0x7f ? value[i] : `\\u{${unit.toString(16).toUpperCase()}}`;
  }
  return out;
}

function same(actual, expected, what) {
  if (actual !== expected) {
    throw new Error(`${what}: got ${JSON.stringify(show(String(actual)))}, expected ${JSON.stringify(show(String(expected)))}`);
  }
}

function throwsTypeError(fn, what) {
  let result;
  try {
    result = fn();
  } catch (error) {
    if (!(error instanceof TypeError)) {
      throw new Error(`${what}: threw ${error?.name}, expected TypeError`);
    }
    return;
  }
  throw new Error(`${what}: did not throw (got ${JSON.stringify(show(String(result)))})`);
}

const COMPONENTS = ["href", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];

function* urlTestData(data) {
  for (const c of data) {
    if (typeof c === "string") continue;
    const base = c.base === null ? undefined : c.base;
    const where = `<${show(c.input)}> ${base === undefined ? "without base" : `against <${show(base)}>`}`;
    yield [`Parsing: ${where}`, () => {
      if (c.failure) {
        throwsTypeError(() => new URL(c.input, base), "new URL");
        same(URL.canParse(c.input, base), false, "URL.canParse");
        return;
      }
      const url = new URL(c.input, base);
      for (const name of COMPONENTS) same(url[name], c[name], name);
      if ("searchParams" in c) same(url.searchParams.toString(), c.searchParams, "searchParams");
      same(URL.canParse(c.input, base), true, "URL.canParse");
    }];
    if (!c.failure && "origin" in c) {
      yield [`Origin parsing: ${where}`, () => same(new URL(c.input, base).origin, c.origin, "origin")];
    }
  }
}

function* settersTests(data) {
  for (const [attribute, cases] of Object.entries(data)) {
    if (attribute === "comment") continue;
    for (const c of cases) {
      const comment = c.comment ? ` ${show(c.comment)}` : "";
      yield [`Setting <${show(c.href)}>.${attribute} = '${show(c.new_value)}'${comment}`, () => {
        const url = new URL(c.href);
        url[attribute] = c.new_value;
        for (const [name, value] of Object.entries(c.expected)) same(url[name], value, name);
      }];
    }
  }
}

function* hostTests(data, withSetters) {
  for (const c of data) {
    if (typeof c === "string" || c.input === "") continue;
    const comment = c.comment ? ` ${show(c.comment)}` : "";
    yield [`ToASCII("${show(c.input)}")${comment}`, () => {
      const input = `https://${c.input}/x`;
      if (c.output === null) {
        throwsTypeError(() => new URL(input), "new URL");
        return;
      }
      const url = new URL(input);
      same(url.host, c.output, "host");
      same(url.hostname, c.output, "hostname");
      same(url.pathname, "/x", "pathname");
      same(url.href, `https://${c.output}/x`, "href");
    }];
    if (!withSetters) continue;
    for (const setter of ["host", "hostname"]) {
      yield [`ToASCII("${show(c.input)}") through URL.${setter}`, () => {
        const url = new URL("https://x/x");
        url[setter] = c.input;
        same(url[setter], c.output ?? "x", setter);
      }];
    }
  }
}

// A worker has no document to choose a legacy encoding: only the UTF-8 column applies, in the
// query (through URL and URLSearchParams) and in the fragment.
function* percentEncoding(data) {
  for (const c of data) {
    if (typeof c === "string") continue;
    const expected = c.output["utf-8"];
    yield [`Percent-encoding <${show(c.input)}> as UTF-8`, () => {
      const url = new URL(`https://example.invalid/?${c.input}#${c.input}`);
      same(url.search, `?${expected}`, "search");
      same(url.hash, `#${expected}`, "hash");
      const params = new URLSearchParams();
      params.set("v", c.input);
      same(new URLSearchParams(params.toString()).get("v"), c.input, "URLSearchParams round trip");
    }];
  }
}

const SUITES = {
  urltestdata: urlTestData,
  setters_tests: settersTests,
  toascii: (data) => hostTests(data, true),
  IdnaTestV2: (data) => hostTests(data, false),
  "percent-encoding": percentEncoding,
};

export default {
  async fetch(request) {
    const suite = new URL(request.url).pathname.slice(1);
    const data = await request.json();
    const cases = SUITES[suite];
    if (cases === undefined) return new Response(`unknown suite ${suite}`, { status: 400 });
    const results = [];
    const seen = new Map();
    for (const [baseName, check] of cases(data)) {
      const count = (seen.get(baseName) ?? 0) + 1;
      seen.set(baseName, count);
      const name = count === 1 ? baseName : `${baseName} [${count}]`;
      try {
        check();
        results.push({ name, ok: true, message: null });
      } catch (error) {
        results.push({ name, ok: false, message: show(String(error?.message ?? error)) });
      }
    }
    return Response.json(results);
  },
};
