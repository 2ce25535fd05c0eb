// URLPattern on deno_web's pattern parser and match-input processing (its ops), with the
// matching done here: deno_web's own class compiles the component regexps with the `u` flag
// where the spec says `v` (set operations such as `[\d&&[0-1]]`), requires the input of test()
// and exec() where the spec defaults it to `{}`, and reports the group of `:name(.*)` as "0".
// deno_web's 01_urlpattern.js, loaded by 00_modules.js, registers the webidl converters used
// here.

import { core, primordials } from "ext:core/mod.js";
import { consoleMod, url, webidl } from "ext:skiff_worker/00_modules.js";

const {
  NumberPrototypeToString,
  ObjectDefineProperty,
  ObjectKeys,
  ObjectGetPrototypeOf,
  RegExpPrototypeExec,
  SafeRegExp,
  StringPrototypeCharCodeAt,
  StringPrototypeSlice,
  SymbolFor,
  TypedArrayPrototypeSubarray,
  TypeError,
} = primordials;

const {
  op_urlpattern_parse: opUrlPatternParse,
  op_urlpattern_process_match_input: opUrlPatternProcessMatchInput,
  op_urlpattern_process_match_input_string: opUrlPatternProcessMatchInputString,
} = core.ops;
const URL_PATTERN_COMPONENTS = [
  "protocol",
  "username",
  "password",
  "hostname",
  "port",
  "pathname",
  "search",
  "hash",
];
const URL_PATTERN_INSPECTED = [...URL_PATTERN_COMPONENTS, "hasRegExpGroups"];
const urlPatternOffsets = new Uint32Array(9);

function defineData(object, key, value) {
  ObjectDefineProperty(object, key, {
    __proto__: null,
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

// A component's groups as a new object, each group defined as its own data property (never
// through a setter a worker put on Object.prototype). One or two groups, as nearly every
// component has (a wildcard is one group named "0"), are defined by an object literal, which
// defines its computed keys; more, one by one.
function matchGroups(groupNames, match) {
  switch (groupNames.length) {
    case 0:
      return {};
    case 1:
      return { [groupNames[0]]: match[1] };
    case 2:
      return { [groupNames[0]]: match[1], [groupNames[1]]: match[2] };
    default: {
      const groups = {};
      for (let j = 0; j < groupNames.length; ++j) defineData(groups, groupNames[j], match[j + 1]);
      return groups;
    }
  }
}

// A component's regexp, with the spec's `v` flag. The engine's `v`-flag parser departs from
// the flag's grammar in places: outside classes it refuses a bare `/` or `-` and `::`; inside
// them it refuses the escaped punctuators the flag allows (`[^\:]`). So the source is
// rewritten to the same regexp in forms it takes: every `/` escaped (the spec escapes it; the
// urlpattern crate does not), and those escapes as `\xHH`. A regexp the engine still refuses
// is compiled with deno_web's `u` flag.
const CLASS_PUNCTUATOR_ESCAPE = /[&!#%,:;<=>@`~]/;

function urlPatternRegExp(source, ignoreCase) {
  let rewritten = "";
  let from = 0;
  let classDepth = 0;
  const replace = (at, length, text) => {
    rewritten += StringPrototypeSlice(source, from, at) + text;
    from = at + length;
  };
  for (let i = 0; i < source.length; ++i) {
    const char = source[i];
    if (char === "\\") {
      const next = source[i + 1];
      if (
        classDepth > 0 && next !== undefined &&
        RegExpPrototypeExec(CLASS_PUNCTUATOR_ESCAPE, next) !== null
      ) {
        replace(i, 2, `\\x${NumberPrototypeToString(StringPrototypeCharCodeAt(next, 0), 16)}`);
      }
      ++i;
    } else if (char === "/") {
      replace(i, 1, "\\/");
    } else if (char === "[") {
      ++classDepth;
    } else if (char === "]" && classDepth > 0) {
      --classDepth;
    }
  }
  rewritten += StringPrototypeSlice(source, from);
  try {
    return new SafeRegExp(rewritten, ignoreCase ? "vi" : "v");
  } catch {
    return new SafeRegExp(rewritten, ignoreCase ? "ui" : "u");
  }
}

const URLPrototype = url.URL.prototype;

// The last string or URL matched without a base URL, and what it made: a router tries its
// patterns one after another on the same URL, and converting the input and processing it (the
// op) cost several times the regexps' matching. A URL (not a subclass, whose getters may say
// otherwise) is the same input while its href is.
let lastMatch = null;

// What test() and exec() match: their arguments converted (the input defaults to `{}`) and the
// eight component values of the URL they make, or null values when they make none. The op
// gives the values joined, with the UTF-8 offsets of each.
function urlPatternMatchInput(input, baseURL, prefix) {
  const given = input;
  let href = null;
  let isURL = false;
  if (baseURL === undefined) {
    if (typeof given === "string") href = given;
    else if (typeof given === "object" && given !== null && !core.isProxy(given) &&
      ObjectGetPrototypeOf(given) === URLPrototype) {
      href = given.href;
      isURL = true;
    }
  }
  if (href !== null && lastMatch !== null && lastMatch.given === given && lastMatch.href === href) {
    return lastMatch.matched;
  }
  const matched = isURL
    ? { input: null, url: given, baseURL, values: urlPatternValues(href, undefined, true) }
    : urlPatternMatchInputOnce(input, baseURL, prefix);
  if (href !== null) lastMatch = { given, href, matched };
  return matched;
}

// A URL's members as the URLPatternInit dictionary converter reads them (in its order: the
// members sorted by name), without the generic converter: a URL's getters give strings, so
// every member is present and already a USVString. Only exec() echoes them.
function urlPatternInitOfURL(url) {
  return {
    hash: url.hash,
    hostname: url.hostname,
    password: url.password,
    pathname: url.pathname,
    port: url.port,
    protocol: url.protocol,
    search: url.search,
    username: url.username,
  };
}

function urlPatternMatchInputOnce(input, baseURL, prefix) {
  input = input === undefined
    ? { __proto__: null }
    : webidl.converters.URLPatternInput(input, prefix, "Argument 1");
  if (baseURL !== undefined) {
    baseURL = webidl.converters.USVString(baseURL, prefix, "Argument 2");
  }
  const values = urlPatternValues(input, baseURL, typeof input === "string");
  return { input, url: null, baseURL, values };
}

// The eight component values of what `input` (a string or a converted URLPatternInit) makes,
// or null when it makes no URL. A URL's href is processed as the string it is: the URL
// parser already made every member canonical, so its href gives the values its members would.
function urlPatternValues(input, baseURL, isString) {
  // A string skips serde's untagged union (deno_web's urlpattern.rs).
  const joined = isString
    ? opUrlPatternProcessMatchInputString(input, baseURL ?? null, urlPatternOffsets)
    : opUrlPatternProcessMatchInput(input, baseURL ?? null, urlPatternOffsets);
  if (joined === null) return null;
  const values = [];
  const bytes = joined.length === urlPatternOffsets[8] ? null : core.encode(joined);
  for (let i = 0; i < 8; ++i) {
    const start = urlPatternOffsets[i];
    const end = urlPatternOffsets[i + 1];
    values[i] = bytes === null
      ? StringPrototypeSlice(joined, start, end)
      : core.decode(TypedArrayPrototypeSubarray(bytes, start, end));
  }
  return values;
}

// A component's regexp run on `value`, or the match it gave the last time it was run on that
// value: a pattern's components other than the pathname see the same values request after
// request. The regexps have neither `g` nor `y` (no lastIndex), so a match depends on the
// value alone; the match arrays are only read.
function componentMatch(component, value) {
  if (value === component.lastValue) return component.lastMatch;
  const match = RegExpPrototypeExec(component.regexp, value);
  component.lastValue = value;
  component.lastMatch = match;
  return match;
}

export class URLPattern {
  // Per component, in URL_PATTERN_COMPONENTS order: { pattern, regexp, groupNames }.
  #components;
  #hasRegExpGroups;

  constructor(input = undefined, baseURLOrOptions = undefined, options = undefined) {
    const prefix = "Failed to construct 'URLPattern'";
    let baseURL;
    // The overloads (input, baseURL, options) and (input, options): a second argument that
    // cannot be a dictionary (anything but undefined, null or an object) is the base URL.
    if (
      baseURLOrOptions !== undefined && baseURLOrOptions !== null &&
      typeof baseURLOrOptions !== "object" && typeof baseURLOrOptions !== "function"
    ) {
      input = webidl.converters.URLPatternInput(input, prefix, "Argument 1");
      baseURL = webidl.converters.USVString(baseURLOrOptions, prefix, "Argument 2");
      options = webidl.converters.URLPatternOptions(options, prefix, "Argument 3");
    } else {
      input = input === undefined
        ? { __proto__: null }
        : webidl.converters.URLPatternInput(input, prefix, "Argument 1");
      options = webidl.converters.URLPatternOptions(baseURLOrOptions, prefix, "Argument 2");
    }
    const parsed = opUrlPatternParse(input, baseURL, options);
    const components = [];
    for (let i = 0; i < 8; ++i) {
      const name = URL_PATTERN_COMPONENTS[i];
      const component = parsed[name];
      let regexp;
      try {
        regexp = urlPatternRegExp(component.regexpString, options.ignoreCase);
      } catch (error) {
        throw new TypeError(`${prefix}: ${name} is invalid; ${error.message}`);
      }
      components[i] = {
        pattern: component.patternString,
        regexp,
        groupNames: component.groupNameList,
        lastValue: null,
        lastMatch: null,
      };
    }
    this.#components = components;
    this.#hasRegExpGroups = parsed.hasRegexpGroups;
  }

  static #componentsOf(pattern) {
    if (pattern === null || typeof pattern !== "object" || !(#components in pattern)) {
      throw new TypeError("Illegal invocation");
    }
    return pattern.#components;
  }

  get protocol() {
    return URLPattern.#componentsOf(this)[0].pattern;
  }
  get username() {
    return URLPattern.#componentsOf(this)[1].pattern;
  }
  get password() {
    return URLPattern.#componentsOf(this)[2].pattern;
  }
  get hostname() {
    return URLPattern.#componentsOf(this)[3].pattern;
  }
  get port() {
    return URLPattern.#componentsOf(this)[4].pattern;
  }
  get pathname() {
    return URLPattern.#componentsOf(this)[5].pattern;
  }
  get search() {
    return URLPattern.#componentsOf(this)[6].pattern;
  }
  get hash() {
    return URLPattern.#componentsOf(this)[7].pattern;
  }
  get hasRegExpGroups() {
    URLPattern.#componentsOf(this);
    return this.#hasRegExpGroups;
  }

  test(input = undefined, baseURL = undefined) {
    const components = URLPattern.#componentsOf(this);
    const prefix = "Failed to execute 'test' on 'URLPattern'";
    const { values } = urlPatternMatchInput(input, baseURL, prefix);
    if (values === null) return false;
    // The pathname first: it is what tells a router's patterns apart.
    if (componentMatch(components[5], values[5]) === null) return false;
    for (let i = 0; i < 8; ++i) {
      if (componentMatch(components[i], values[i]) === null) return false;
    }
    return true;
  }

  exec(input = undefined, baseURL = undefined) {
    const components = URLPattern.#componentsOf(this);
    const prefix = "Failed to execute 'exec' on 'URLPattern'";
    const matched = urlPatternMatchInput(input, baseURL, prefix);
    const values = matched.values;
    if (values === null) return null;
    if (componentMatch(components[5], values[5]) === null) return null;
    const results = [];
    for (let i = 0; i < 8; ++i) {
      const component = components[i];
      const match = componentMatch(component, values[i]);
      if (match === null) return null;
      results[i] = { input: values[i], groups: matchGroups(component.groupNames, match) };
    }
    // The input as given (a dictionary as converted: only the members present).
    let echoed;
    if (matched.url !== null) {
      echoed = urlPatternInitOfURL(matched.url);
    } else if (typeof matched.input === "string") {
      echoed = matched.input;
    } else {
      echoed = {};
      const keys = ObjectKeys(matched.input);
      for (let i = 0; i < keys.length; ++i) defineData(echoed, keys[i], matched.input[keys[i]]);
    }
    return {
      inputs: matched.baseURL === undefined ? [echoed] : [echoed, matched.baseURL],
      protocol: results[0],
      username: results[1],
      password: results[2],
      hostname: results[3],
      port: results[4],
      pathname: results[5],
      search: results[6],
      hash: results[7],
    };
  }

  [SymbolFor("Deno.privateCustomInspect")](inspect, inspectOptions) {
    return inspect(
      consoleMod.createFilteredInspectProxy({
        object: this,
        evaluate: #components in this,
        keys: URL_PATTERN_INSPECTED,
      }),
      inspectOptions,
    );
  }
}
webidl.configureInterface(URLPattern);
