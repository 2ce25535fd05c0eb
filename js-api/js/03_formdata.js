// Request.prototype.formData and Response.prototype.formData as workerd parses bodies:
// multipart/form-data with workerd's reading of Content-Disposition (a `form-data` value,
// quoted `name` and `filename` parameters with backslash escapes, the last of each winning)
// and its errors for every malformed message, where deno_fetch's parser skips or misreads
// parts; application/x-www-form-urlencoded is deno_fetch's; any other type is refused with
// workerd's message.

import { primordials } from "ext:core/mod.js";
import { encoding, file, formData, mimesniff, request, response } from "ext:skiff_worker/00_modules.js";

const {
  MapPrototypeGet,
  ObjectDefineProperty,
  ReflectApply,
  RegExpPrototypeExec,
  SafeArrayIterator,
  SafeRegExp,
  StringPrototypeCharCodeAt,
  StringPrototypeIndexOf,
  StringPrototypeSlice,
  StringPrototypeToLowerCase,
  StringPrototypeTrim,
  TypeError,
  TypedArrayPrototypeGetLength,
  TypedArrayPrototypeSubarray,
  Uint8Array,
} = primordials;
const { File } = file;
const { FormData } = formData;
const formDataAppend = FormData.prototype.append;
const utf8 = new encoding.TextDecoder();
const encoder = new encoding.TextEncoder();

const UNRECOGNIZED_TYPE =
  "Unrecognized Content-Type header value. FormData can only parse the following MIME types: multipart/form-data, application/x-www-form-urlencoded";
const NO_BOUNDARY =
  "No boundary string in Content-Type header. The multipart/form-data MIME type requires a boundary parameter, e.g. 'Content-Type: multipart/form-data; boundary=\"abcd\"'. See RFC 7578, section 4.";

// Where `needle` first occurs in `bytes` at or after `from`, or -1.
function indexOfBytes(bytes, needle, from) {
  const last = TypedArrayPrototypeGetLength(bytes) - TypedArrayPrototypeGetLength(needle);
  outer: for (let i = from; i <= last; i++) {
    for (let j = 0; j < TypedArrayPrototypeGetLength(needle); j++) {
      if (bytes[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

// The end of a part's header block: just after its first blank line (CRLF or LF), or -1.
function headersEnd(bytes, from) {
  const n = TypedArrayPrototypeGetLength(bytes);
  for (let i = from; i < n; i++) {
    if (bytes[i] !== 10) continue;
    let j = i + 1;
    if (bytes[j] === 13) j++;
    if (bytes[j] === 10) return j + 1;
  }
  return -1;
}

const IDENTIFIER = new SafeRegExp("^[A-Za-z0-9_-]+");
const TOKEN = new SafeRegExp("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$");
const WHITESPACE = new SafeRegExp("^[ \\t]*");

// workerd's Content-Disposition grammar: an identifier, then `; key = "value"` parameters
// (the value one or more characters, `\c` standing for `c`) until one does not parse. Returns
// [value, Map of parameters] or null.
function contentDisposition(text) {
  let at = 0;
  const skip = () => {
    at += RegExpPrototypeExec(WHITESPACE, StringPrototypeSlice(text, at))[0].length;
  };
  const identifier = () => {
    const match = RegExpPrototypeExec(IDENTIFIER, StringPrototypeSlice(text, at));
    if (match === null) return null;
    at += match[0].length;
    return match[0];
  };
  skip();
  const value = identifier();
  if (value === null) return null;
  skip();
  const params = { __proto__: null };
  for (;;) {
    const start = at;
    const param = (() => {
      if (text[at] !== ";") return null;
      at++;
      skip();
      const key = identifier();
      if (key === null) return null;
      skip();
      if (text[at] !== "=") return null;
      at++;
      skip();
      if (text[at] !== '"') return null;
      at++;
      let quoted = "";
      for (;;) {
        const c = text[at];
        if (c === undefined || c === "\n") return null;
        if (c === '"') break;
        if (c === "\\") {
          const next = text[at + 1];
          if (next === undefined || next === "\n") return null;
          quoted += next;
          at += 2;
        } else {
          quoted += c;
          at++;
        }
      }
      if (quoted === "") return null;
      at++;
      skip();
      return [key, quoted];
    })();
    if (param === null) {
      at = start;
      break;
    }
    params[param[0]] = param[1];
  }
  return [value, params];
}

// A part's headers, by lower-case name; null if a line is not a header.
function partHeaders(text) {
  const headers = { __proto__: null };
  let rest = text;
  while (rest.length > 0) {
    let end = StringPrototypeIndexOf(rest, "\n");
    if (end === -1) end = rest.length;
    let line = StringPrototypeSlice(rest, 0, end);
    rest = StringPrototypeSlice(rest, end + 1);
    if (line.length > 0 && StringPrototypeCharCodeAt(line, line.length - 1) === 13) {
      line = StringPrototypeSlice(line, 0, line.length - 1);
    }
    if (line.length === 0) continue;
    const colon = StringPrototypeIndexOf(line, ":");
    if (colon <= 0 || RegExpPrototypeExec(TOKEN, StringPrototypeSlice(line, 0, colon)) === null) {
      return null;
    }
    const name = StringPrototypeToLowerCase(StringPrototypeSlice(line, 0, colon));
    headers[name] = StringPrototypeTrim(StringPrototypeSlice(line, colon + 1));
  }
  return headers;
}

// Parses a multipart/form-data body as workerd does (src/workerd/api/form-data.c++).
export function parseMultipart(bytes, boundary) {
  const result = new FormData();
  // Parts are delimited by LF "--" boundary; the first boundary needs no newline before it.
  const delimiter = encoder.encode(`\n--${boundary}`);
  const first = TypedArrayPrototypeSubarray(delimiter, 1);
  let at = indexOfBytes(bytes, first, 0);
  const length = TypedArrayPrototypeGetLength(bytes);
  at = at === -1 ? length : at + TypedArrayPrototypeGetLength(first);
  if (at >= length) {
    throw new TypeError("No initial boundary string (or you have a truncated message).");
  }
  for (;;) {
    if (bytes[at] === 10) at += 1;
    else if (bytes[at] === 13 && bytes[at + 1] === 10) at += 2;
    else if (bytes[at] === 45 && bytes[at + 1] === 45) return result;
    else throw new TypeError("Boundary string was not succeeded by CRLF, LF, or '--'.");

    const end = headersEnd(bytes, at);
    if (end === -1 || end < at) throw new TypeError("No multipart message header termination found.");
    const headers = partHeaders(utf8.decode(TypedArrayPrototypeSubarray(bytes, at, end)));
    at = end;
    if (headers === null) throw new TypeError("FormData part had invalid headers.");
    const disposition = headers["content-disposition"];
    if (disposition === undefined) {
      throw new TypeError("No valid Content-Disposition header found in FormData part.");
    }
    const parsed = contentDisposition(disposition);
    if (parsed === null) throw new TypeError("Invalid Content-Disposition header found in FormData part.");
    if (parsed[0] !== "form-data") {
      throw new TypeError(
        `Content-Disposition header for FormData part must have the value "form-data", possibly followed by parameters. Got: "${parsed[0]}"`,
      );
    }
    const name = parsed[1].name;
    if (name === undefined) throw new TypeError("Content-Disposition header in FormData part is missing a name.");
    const filename = parsed[1].filename;

    const next = indexOfBytes(bytes, delimiter, at);
    const stop = next === -1 ? length : next;
    const after = next === -1 ? length : next + TypedArrayPrototypeGetLength(delimiter);
    if (after >= length) throw new TypeError("No subsequent boundary string after multipart message.");
    // A CR before the delimiter's LF belongs to the delimiter.
    const bodyEnd = stop > at && bytes[stop - 1] === 13 ? stop - 1 : stop;
    const body = TypedArrayPrototypeSubarray(bytes, at, bodyEnd);
    if (filename === undefined) {
      ReflectApply(formDataAppend, result, [name, utf8.decode(body)]);
    } else {
      const type = headers["content-type"] ?? "";
      ReflectApply(formDataAppend, result, [name, new File([new Uint8Array(body)], filename, { type })]);
    }
    at = after;
  }
}

for (const proto of new SafeArrayIterator([request.Request.prototype, response.Response.prototype])) {
  const standardFormData = proto.formData;
  const arrayBuffer = proto.arrayBuffer;
  const headersGetter = ReflectApply(
    primordials.ObjectGetOwnPropertyDescriptor,
    undefined,
    [proto, "headers"],
  ).get;
  ObjectDefineProperty(proto, "formData", {
    __proto__: null,
    value: async function formData() {
      const headers = ReflectApply(headersGetter, this, []);
      const contentType = headers.get("content-type");
      const mime = contentType === null ? null : mimesniff.parseMimeType(contentType);
      const essence = mime === null ? null : `${mime.type}/${mime.subtype}`;
      if (essence === "multipart/form-data") {
        const boundary = MapPrototypeGet(mime.parameters, "boundary");
        if (boundary === undefined) throw new TypeError(NO_BOUNDARY);
        const bytes = new Uint8Array(await ReflectApply(arrayBuffer, this, []));
        return parseMultipart(bytes, boundary);
      }
      if (essence === "application/x-www-form-urlencoded") {
        return await ReflectApply(standardFormData, this, []);
      }
      throw new TypeError(UNRECOGNIZED_TYPE);
    },
    writable: true,
    enumerable: true,
    configurable: true,
  });
}
