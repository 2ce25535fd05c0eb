// The stream classes Workers adds to the standard ones, with workerd's messages:
// `IdentityTransformStream` (bytes in, the same bytes out, its readable side a byte stream that
// BYOB readers can read), `FixedLengthStream` (the same, holding its writer to an exact byte
// count, so that a response with it as body carries that `content-length`), and
// `ReadableStreamBYOBReader.prototype.readAtLeast(min, view)`. Also `ReadableStream.from()`
// taking a string, as the standard now has it. 04_globals.js defines the globals;
// 05_dispatch.js sends a FixedLengthStream's length.

import { primordials } from "ext:core/mod.js";
import { streams, webidl } from "ext:skiff_worker/00_modules.js";
import { bufferSourceBytes } from "ext:skiff_worker/03_workers.js";

const {
  ArrayBufferIsView,
  DataViewPrototypeGetByteLength,
  MathFloor,
  NumberIsFinite,
  ObjectDefineProperty,
  ObjectGetOwnPropertyDescriptor,
  ReflectApply,
  SafeWeakMap,
  StringPrototypeSymbolIterator,
  Symbol,
  SymbolIterator,
  TypeError,
  TypedArrayPrototypeGetByteLength,
  TypedArrayPrototypeGetLength,
  TypedArrayPrototypeGetSymbolToStringTag,
  WeakMapPrototypeGet,
  WeakMapPrototypeSet,
} = primordials;

const { TransformStream, ReadableStream, ReadableStreamBYOBReader, createReadableByteStream } = streams;
const MAX_SAFE_LENGTH = 2 ** 53 - 1;

const NOT_BYTES =
  "This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.";

// A chunk's bytes, copied once; TypeError for anything else.
function chunkBytes(chunk) {
  const bytes = bufferSourceBytes(chunk);
  if (bytes === null) throw new TypeError(NOT_BYTES);
  return bytes;
}

function queuingStrategy(strategy) {
  if (strategy === undefined || strategy === null) return undefined;
  const highWaterMark = strategy.highWaterMark;
  return highWaterMark === undefined ? undefined : { highWaterMark, size: chunkSize };
}

function chunkSize(chunk) {
  return chunk.byteLength;
}

// FixedLengthStream's readable side -> its expected length.
const fixedLengths = new SafeWeakMap();
const readableOf = ObjectGetOwnPropertyDescriptor(TransformStream.prototype, "readable").get;
// IdentityTransformStream -> its readable side, a byte stream.
const byteReadables = new SafeWeakMap();
// Lets FixedLengthStream give IdentityTransformStream its own transformer.
const subclassKey = Symbol("fixedLength");

export class IdentityTransformStream extends TransformStream {
  constructor(strategy = undefined, key = undefined, transformer = undefined) {
    super(
      key === subclassKey ? transformer : {
        transform(chunk, controller) {
          const bytes = chunkBytes(chunk);
          if (bytes.length > 0) controller.enqueue(bytes);
        },
      },
      queuingStrategy(strategy),
    );
    WeakMapPrototypeSet(byteReadables, this, byteStreamOf(ReflectApply(readableOf, this, [])));
  }

  get readable() {
    const readable = WeakMapPrototypeGet(byteReadables, this);
    if (readable === undefined) throw new TypeError("Illegal invocation");
    return readable;
  }
}

// A byte stream that hands on the chunks of `source` (the transform's own readable side, whose
// chunks are already copies): read when it is read, so the transform's backpressure holds;
// cancelling it cancels the transform, which errors the writable side.
function byteStreamOf(source) {
  const reader = source.getReader();
  return createReadableByteStream(
    () => {},
    async (controller) => {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    (reason) => reader.cancel(reason),
  );
}

export class FixedLengthStream extends IdentityTransformStream {
  constructor(expectedLength, strategy = undefined) {
    const prefix = "Failed to construct 'FixedLengthStream'";
    webidl.requiredArguments(arguments.length, 1, prefix);
    const length = typeof expectedLength === "bigint" ? Number(expectedLength) : +expectedLength;
    if (!NumberIsFinite(length) || length < 0 || MathFloor(length) !== length || length > MAX_SAFE_LENGTH) {
      throw new TypeError("FixedLengthStream requires an integer expected length less than 2^53.");
    }
    let written = 0;
    // The identity transform, with the count of bytes checked on every write and at close.
    super(strategy, subclassKey, {
      transform(chunk, controller) {
        const bytes = chunkBytes(chunk);
        written += bytes.length;
        if (written > length) {
          throw new TypeError("Attempt to write too many bytes through a FixedLengthStream.");
        }
        if (bytes.length > 0) controller.enqueue(bytes);
      },
      flush() {
        if (written < length) {
          throw new TypeError("FixedLengthStream did not see all expected bytes before close().");
        }
      },
    });
    WeakMapPrototypeSet(fixedLengths, this.readable, length);
  }
}

// The length a body stream promises (the readable side of a FixedLengthStream), or null.
export function fixedLength(stream) {
  return WeakMapPrototypeGet(fixedLengths, stream) ?? null;
}

// ReadableStream.from(asyncIterable): deno_web's converts its argument as an async sequence,
// which refuses strings; the standard takes a string's iterator (one chunk per code point).
const from = ReadableStream.from;
ObjectDefineProperty(ReadableStream, "from", {
  __proto__: null,
  value: {
    from(asyncIterable) {
      if (typeof asyncIterable !== "string") return ReflectApply(from, this, [asyncIterable]);
      const string = asyncIterable;
      return ReflectApply(from, this, [{ [SymbolIterator]: () => StringPrototypeSymbolIterator(string) }]);
    },
  }.from,
  writable: true,
  enumerable: false,
  configurable: true,
});

// ReadableStreamBYOBReader.prototype.readAtLeast(minElements, view): a read that resolves
// once at least `minElements` elements of `view` are filled (or the stream ends), with
// workerd's messages for a minimum the view cannot hold.
const read = ReadableStreamBYOBReader.prototype.read;
function readAtLeast(minElements, view) {
  const prefix = "Failed to execute 'readAtLeast' on 'ReadableStreamBYOBReader'";
  try {
    webidl.requiredArguments(arguments.length, 2, prefix);
    minElements = webidl.converters.long(minElements, prefix, "Argument 1");
    if (!ArrayBufferIsView(view)) {
      throw new TypeError(`${prefix}: parameter 2 is not of type 'ArrayBufferView'.`);
    }
    const isDataView = TypedArrayPrototypeGetSymbolToStringTag(view) === undefined;
    const byteLength = isDataView ? DataViewPrototypeGetByteLength(view) : TypedArrayPrototypeGetByteLength(view);
    const elements = isDataView ? byteLength : TypedArrayPrototypeGetLength(view);
    if (byteLength === 0) {
      throw new TypeError('You must call read() on a "byob" reader with a positive-sized TypedArray object.');
    }
    if (minElements <= 0) {
      throw new TypeError(`Requested invalid minimum number of bytes to read (${minElements}).`);
    }
    if (minElements > elements) {
      const bytes = minElements > byteLength ? minElements : minElements * (byteLength / elements);
      throw new TypeError(`Minimum bytes to read (${bytes}) exceeds size of buffer (${byteLength}).`);
    }
  } catch (error) {
    return primordials.PromiseReject(error);
  }
  return ReflectApply(read, this, [view, { min: minElements }]);
}
ObjectDefineProperty(ReadableStreamBYOBReader.prototype, "readAtLeast", {
  __proto__: null,
  value: readAtLeast,
  writable: true,
  enumerable: true,
  configurable: true,
});
