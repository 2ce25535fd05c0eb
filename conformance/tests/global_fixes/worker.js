// Checks of the tenant global's behaviour where the bootstrap corrects deno's web extensions
// (found by the WPT run; see js-api/js/02_fixes.js and 03_urlpattern.js). Answers one JSON
// object of outcomes.

function outcome(fn) {
  try {
    return ["ok", fn()];
  } catch (error) {
    return [error instanceof DOMException ? "DOMException" : error?.constructor?.name, error?.name];
  }
}

function checks() {
  const out = {};

  // atob(): forgiving-base64 has no base64url alphabet; whitespace is still stripped.
  out.atobDash = outcome(() => atob("--"));
  out.atobUnderscore = outcome(() => atob("ab_c"));
  out.atobWhitespace = outcome(() => atob(" YW\tJj\n"));
  out.atobArity = [atob.length, atob.name];

  // URL and URLSearchParams are not serializable.
  out.cloneURL = outcome(() => structuredClone({ nested: [new URL("https://a.test/")] }));
  out.cloneParams = outcome(() => structuredClone(new URLSearchParams("a=1")));
  out.clonePlain = outcome(() => structuredClone({ href: "https://a.test/" }).href);
  out.cloneHeaders = outcome(() => structuredClone(new Headers()));

  // structuredClone() checks its arguments and transfers ArrayBuffers.
  out.cloneNoArgument = outcome(() => structuredClone());
  out.cloneBadOptions = outcome(() => structuredClone(1, "x"));
  const buffer = new Uint8Array([1, 2, 3]).buffer;
  const moved = structuredClone({ a: buffer, b: buffer }, { transfer: [buffer] });
  out.transfer = [buffer.byteLength, moved.a.byteLength, moved.a === moved.b, [...new Uint8Array(moved.a)]];
  out.transferDetached = outcome(() => structuredClone(buffer, { transfer: [buffer] }));
  const twice = new ArrayBuffer(1);
  out.transferTwice = outcome(() => structuredClone(twice, { transfer: [twice, twice] }));
  out.transferTwiceKept = twice.byteLength;

  // blob: URLs have the origin of an inner http(s) URL only.
  out.blobOrigins = [
    "blob:https://a.test:8443/x",
    "blob:ftp://host/path",
    "blob:ws://a.test/",
    "blob:blob:https://a.test/",
    "blob:not a url",
  ].map((href) => new URL(href).origin);
  out.httpOrigin = new URL("http://a.test:81/p").origin;
  out.originGetter = Object.getOwnPropertyDescriptor(URL.prototype, "origin").get.name;

  // URLPattern: `v`-flag regexps, optional test()/exec() input, named full wildcards.
  const setDifference = new URLPattern({ pathname: "/([[a-z]--a])" });
  out.vFlag = [setDifference.test({ pathname: "/a" }), setDifference.test({ pathname: "/z" })];
  const intersection = new URLPattern({ pathname: "/files/([\\d&&[0-1]])/:name" });
  out.vFlagIntersection = [
    intersection.exec({ pathname: "/files/1/x" })?.pathname.groups,
    intersection.test({ pathname: "/files/3/x" }),
  ];
  out.escapedPunctuator = new URLPattern({ port: "([^\\:]+?)" }).test({ port: "8080" });
  out.noInput = [new URLPattern().test(), new URLPattern({ pathname: "/a" }).test()];
  out.execNoInput = new URLPattern().exec()?.pathname;
  out.namedWildcard = new URLPattern({ hostname: ":domain(.*)" }).exec({ hostname: "a.test" })?.hostname;
  const ids = new URLPattern("/u/:id", "https://x.test");
  const match = ids.exec("https://x.test/u/42?q");
  out.exec = [match?.inputs, match?.pathname, match?.search];
  out.execBase = ids.exec("/u/7", "https://x.test/")?.inputs;
  out.execDict = ids.exec({ pathname: "/u/9", hostname: "x.test", protocol: "https" })?.inputs;
  out.ignoreCase = new URLPattern({ pathname: "/A" }, { ignoreCase: true }).test({ pathname: "/a" });
  out.badPattern = outcome(() => new URLPattern({ pathname: "/(" }));
  out.badRegexp = outcome(() => new URLPattern({ pathname: "/([)" }));
  out.brand = outcome(() => URLPattern.prototype.test.call({}, {}));
  out.shape = [
    setDifference instanceof URLPattern,
    Object.getPrototypeOf(setDifference) === URLPattern.prototype,
    Object.prototype.toString.call(setDifference),
    setDifference.pathname,
    setDifference.hasRegExpGroups,
    new URLPattern({ pathname: "/:a" }).hasRegExpGroups,
  ];
  // Tenant code that patches built-ins does not change matching.
  const exec = RegExp.prototype.exec;
  RegExp.prototype.exec = () => null;
  try {
    out.patchedExec = new URLPattern({ pathname: "/p/:x" }).exec({ pathname: "/p/1" })?.pathname.groups;
  } finally {
    RegExp.prototype.exec = exec;
  }
  return out;
}

export default {
  fetch() {
    return Response.json(checks());
  },
};
