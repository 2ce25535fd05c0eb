use super::quickjs_sys::*;
use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::sync::OnceLock;
use temporal_rs::{Instant, TimeZone};
use timezone_provider::zoneinfo64::ZoneInfo64TzdbProvider;

unsafe extern "C" {
  fn JS_DefinePropertyValueStr(
    ctx: *mut JSContext,
    this_obj: JSValue,
    prop: *const c_char,
    val: JSValue,
    flags: c_int,
  ) -> c_int;
}

fn provider() -> &'static ZoneInfo64TzdbProvider<'static> {
  static PROVIDER: OnceLock<ZoneInfo64TzdbProvider<'static>> = OnceLock::new();
  PROVIDER.get_or_init(|| {
    ZoneInfo64TzdbProvider::zoneinfo64_provider_for_testing()
      .expect("bundled zoneinfo64 data is invalid")
  })
}

unsafe fn value_to_string(
  ctx: *mut JSContext,
  value: JSValue,
) -> Option<String> {
  let mut len = 0usize;
  let ptr = unsafe { JS_ToCStringLen(ctx, &mut len, value) };
  if ptr.is_null() {
    return None;
  }
  let text = unsafe {
    String::from_utf8_lossy(std::slice::from_raw_parts(ptr as *const u8, len))
      .into_owned()
  };
  unsafe { JS_FreeCString(ctx, ptr) };
  Some(text)
}

unsafe fn set_i32(
  ctx: *mut JSContext,
  object: JSValue,
  name: &std::ffi::CStr,
  value: i32,
) {
  unsafe {
    JS_SetPropertyStr(ctx, object, name.as_ptr(), JS_NewInt32(ctx, value));
  }
}

unsafe fn set_string(
  ctx: *mut JSContext,
  object: JSValue,
  name: &std::ffi::CStr,
  value: &str,
) {
  unsafe {
    JS_SetPropertyStr(
      ctx,
      object,
      name.as_ptr(),
      JS_NewStringLen(ctx, value.as_ptr() as *const c_char, value.len()),
    );
  }
}

unsafe fn throw_range_error(ctx: *mut JSContext, message: &str) -> JSValue {
  let message = CString::new(message).unwrap_or_default();
  unsafe { JS_ThrowRangeError(ctx, c"%s".as_ptr(), message.as_ptr()) }
}

unsafe extern "C" fn format_time_zone(
  ctx: *mut JSContext,
  _this: JSValue,
  argc: c_int,
  argv: *mut JSValue,
) -> JSValue {
  if argc < 2 || argv.is_null() {
    return unsafe {
      JS_ThrowTypeError(
        ctx,
        c"epoch milliseconds and time zone are required".as_ptr(),
      )
    };
  }

  let mut milliseconds = 0.0;
  if unsafe { JS_ToFloat64(ctx, &mut milliseconds, *argv) } < 0 {
    return jsv_exception();
  }
  if !milliseconds.is_finite()
    || milliseconds < i64::MIN as f64
    || milliseconds > i64::MAX as f64
  {
    return unsafe { throw_range_error(ctx, "invalid epoch milliseconds") };
  }
  let Some(identifier) = (unsafe { value_to_string(ctx, *argv.add(1)) }) else {
    return jsv_exception();
  };

  let provider = provider();
  let Ok(time_zone) =
    TimeZone::try_from_identifier_str_with_provider(&identifier, provider)
  else {
    return unsafe {
      throw_range_error(ctx, &format!("invalid time zone: {identifier}"))
    };
  };
  let Ok(primary_time_zone) =
    time_zone.primary_identifier_with_provider(provider)
  else {
    return unsafe {
      throw_range_error(ctx, &format!("invalid time zone: {identifier}"))
    };
  };
  let Ok(canonical_identifier) =
    primary_time_zone.identifier_with_provider(provider)
  else {
    return unsafe {
      throw_range_error(ctx, &format!("invalid time zone: {identifier}"))
    };
  };
  let Ok(instant) =
    Instant::from_epoch_milliseconds(milliseconds.trunc() as i64)
  else {
    return unsafe {
      throw_range_error(ctx, "epoch milliseconds out of range")
    };
  };
  let Ok(zoned) =
    instant.to_zoned_date_time_iso_with_provider(time_zone, provider)
  else {
    return unsafe {
      throw_range_error(ctx, &format!("invalid time zone: {identifier}"))
    };
  };

  let object = unsafe { JS_NewObject(ctx) };
  unsafe {
    set_string(ctx, object, c"timeZone", &canonical_identifier);
    set_string(
      ctx,
      object,
      c"era",
      if zoned.year() <= 0 { "BC" } else { "AD" },
    );
    set_i32(ctx, object, c"year", zoned.year());
    set_i32(ctx, object, c"month", i32::from(zoned.month()));
    set_i32(ctx, object, c"day", i32::from(zoned.day()));
    set_i32(ctx, object, c"hour", i32::from(zoned.hour()));
    set_i32(ctx, object, c"minute", i32::from(zoned.minute()));
    set_i32(ctx, object, c"second", i32::from(zoned.second()));
    JS_SetPropertyStr(
      ctx,
      object,
      c"offsetNanoseconds".as_ptr(),
      JS_NewInt64(ctx, zoned.offset_nanoseconds()),
    );
  }
  object
}

pub(crate) unsafe fn install_host_functions(
  ctx: *mut JSContext,
  global: JSValue,
) {
  let function = unsafe {
    JS_NewCFunction(ctx, format_time_zone, c"__v8xTemporalTimeZone".as_ptr(), 2)
  };
  unsafe {
    super::core::define_internal_global(
      ctx,
      global,
      c"__v8xTemporalTimeZone",
      function,
    );
  }
}

const JS_WRITE_OBJ_BYTECODE: c_int = 1 << 0;
const JS_WRITE_OBJ_STRIP_SOURCE: c_int = 1 << 4;
const JS_WRITE_OBJ_STRIP_DEBUG: c_int = 1 << 5;
const JS_READ_OBJ_BYTECODE: c_int = 1 << 0;

/// Runs `source` as a global script, compiled once per process: the first
/// call compiles it and keeps its bytecode for later calls (skiff patch:
/// without source text or line tables: it is the engine's own code, as the
/// snapshot's is).
unsafe fn eval_cached_script(
  ctx: *mut JSContext,
  source: &[u8],
  filename: &std::ffi::CStr,
  cache: &OnceLock<Vec<u8>>,
) -> JSValue {
  if let Some(bytes) = cache.get() {
    let function = unsafe {
      JS_ReadObject(ctx, bytes.as_ptr(), bytes.len(), JS_READ_OBJ_BYTECODE)
    };
    if function.tag == JS_TAG_EXCEPTION {
      return function;
    }
    return unsafe { JS_EvalFunction(ctx, function) };
  }

  let source = CString::new(source).expect("bootstrap script contains NUL");
  let function = unsafe {
    JS_Eval(
      ctx,
      source.as_ptr(),
      source.as_bytes().len(),
      filename.as_ptr(),
      JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY,
    )
  };
  if function.tag == JS_TAG_EXCEPTION {
    return function;
  }

  let mut size = 0;
  let bytes = unsafe {
    JS_WriteObject(
      ctx,
      &mut size,
      function,
      JS_WRITE_OBJ_BYTECODE
        | JS_WRITE_OBJ_STRIP_SOURCE
        | JS_WRITE_OBJ_STRIP_DEBUG,
    )
  };
  if !bytes.is_null() {
    if size > 0 {
      let bytecode = unsafe { std::slice::from_raw_parts(bytes, size) };
      let _ = cache.set(bytecode.to_vec());
    }
    unsafe { js_free(ctx, bytes.cast()) };
  }

  unsafe { JS_EvalFunction(ctx, function) }
}

// skiff patch: `Temporal` is built on first use. The polyfill is about 880
// functions; built into every context (and so into every runtime restored
// from a startup snapshot) it cost about 1 MB per runtime that almost none
// uses. Until first touched, `globalThis.Temporal` and
// `Date.prototype.toTemporalInstant` are accessors whose getter evaluates the
// polyfill (compiled once per process), which puts the real values in their
// place (and its `Intl.DateTimeFormat`, which formats Temporal objects), and
// whose setter puts the assigned value in their place. The accessors are
// native functions installed in every context before a snapshot is read, so
// a snapshot refers to them by name.

thread_local! {
  /// Set while the polyfill is evaluated, so that touching a lazy property
  /// from inside it gives `undefined` instead of recursing.
  static LOADING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Evaluates the polyfill and installs it in place of the lazy accessors that
/// are still there. False with an exception pending if it failed.
unsafe fn load(ctx: *mut JSContext) -> bool {
  // The UMD wrapper exports to `exports`/`module`/`define` when it sees them;
  // a tenant's globals of those names must not take the polyfill.
  const POLYFILL: &str = concat!(
    "(function (exports, module, define) {\n",
    include_str!("../../vendor/temporal-polyfill/index.umd.js"),
    "\n})();"
  );
  static POLYFILL_BYTECODE: OnceLock<Vec<u8>> = OnceLock::new();
  const INSTALL: &[u8] = br#"
    (function(g) {
      const implementation = g.temporal;
      delete g.temporal;
      if (!implementation || !implementation.Temporal) return;
      const lazy = (object, name) => {
        const descriptor = Object.getOwnPropertyDescriptor(object, name);
        return descriptor !== undefined && descriptor.get !== undefined;
      };
      if (lazy(g, "Temporal")) {
        const temporal = {};
        for (const name of Object.getOwnPropertyNames(implementation.Temporal)) {
          Object.defineProperty(temporal, name, {
            value: implementation.Temporal[name],
            writable: true,
            configurable: true
          });
        }
        Object.defineProperty(temporal, Symbol.toStringTag, {
          value: "Temporal",
          configurable: true
        });
        Object.defineProperty(g, "Temporal", {
          value: temporal,
          writable: true,
          configurable: true
        });
      }
      if (implementation.Intl && implementation.Intl.DateTimeFormat && g.Intl) {
        g.Intl.DateTimeFormat = implementation.Intl.DateTimeFormat;
      }
      if (implementation.toTemporalInstant && lazy(Date.prototype, "toTemporalInstant")) {
        Object.defineProperty(Date.prototype, "toTemporalInstant", {
          value: implementation.toTemporalInstant,
          writable: true,
          configurable: true
        });
      }
    })(globalThis);
  "#;
  static INSTALL_BYTECODE: OnceLock<Vec<u8>> = OnceLock::new();

  LOADING.with(|loading| loading.set(true));
  let mut result = unsafe {
    eval_cached_script(
      ctx,
      POLYFILL.as_bytes(),
      c"<temporal-polyfill>",
      &POLYFILL_BYTECODE,
    )
  };
  if result.tag != JS_TAG_EXCEPTION {
    unsafe { JS_FreeValue(ctx, result) };
    result = unsafe {
      eval_cached_script(ctx, INSTALL, c"<temporal-install>", &INSTALL_BYTECODE)
    };
  }
  LOADING.with(|loading| loading.set(false));
  if result.tag == JS_TAG_EXCEPTION {
    return false;
  }
  unsafe { JS_FreeValue(ctx, result) };
  true
}

/// The getter of a lazy property: loads the polyfill, then reads `name` from
/// `holder`, where the polyfill has put its value.
unsafe fn lazy_get(
  ctx: *mut JSContext,
  holder: JSValue,
  name: &std::ffi::CStr,
) -> JSValue {
  if LOADING.with(|loading| loading.get()) {
    unsafe { JS_FreeValue(ctx, holder) };
    return jsv_undefined();
  }
  if !unsafe { load(ctx) } {
    unsafe { JS_FreeValue(ctx, holder) };
    return jsv_exception();
  }
  let value = unsafe { JS_GetPropertyStr(ctx, holder, name.as_ptr()) };
  unsafe { JS_FreeValue(ctx, holder) };
  value
}

/// The setter of a lazy property: an assignment replaces it with a data
/// property on the receiver, as assigning to a writable data property does.
unsafe fn lazy_set(
  ctx: *mut JSContext,
  this: JSValue,
  argc: c_int,
  argv: *mut JSValue,
  name: &std::ffi::CStr,
) -> JSValue {
  if !jsv_is_object(&this) {
    return jsv_undefined();
  }
  let value = if argc > 0 && !argv.is_null() {
    unsafe { JS_DupValue(ctx, *argv) }
  } else {
    jsv_undefined()
  };
  let flags = JS_PROP_CONFIGURABLE | JS_PROP_WRITABLE;
  if unsafe {
    JS_DefinePropertyValueStr(ctx, this, name.as_ptr(), value, flags)
  } < 0
  {
    return jsv_exception();
  }
  jsv_undefined()
}

unsafe fn date_prototype(ctx: *mut JSContext) -> JSValue {
  unsafe {
    let global = JS_GetGlobalObject(ctx);
    let date = JS_GetPropertyStr(ctx, global, c"Date".as_ptr());
    JS_FreeValue(ctx, global);
    let prototype = JS_GetPropertyStr(ctx, date, c"prototype".as_ptr());
    JS_FreeValue(ctx, date);
    prototype
  }
}

unsafe extern "C" fn get_temporal(
  ctx: *mut JSContext,
  _this: JSValue,
  _argc: c_int,
  _argv: *mut JSValue,
) -> JSValue {
  unsafe { lazy_get(ctx, JS_GetGlobalObject(ctx), c"Temporal") }
}

unsafe extern "C" fn set_temporal(
  ctx: *mut JSContext,
  this: JSValue,
  argc: c_int,
  argv: *mut JSValue,
) -> JSValue {
  unsafe { lazy_set(ctx, this, argc, argv, c"Temporal") }
}

unsafe extern "C" fn get_to_temporal_instant(
  ctx: *mut JSContext,
  _this: JSValue,
  _argc: c_int,
  _argv: *mut JSValue,
) -> JSValue {
  unsafe { lazy_get(ctx, date_prototype(ctx), c"toTemporalInstant") }
}

unsafe extern "C" fn set_to_temporal_instant(
  ctx: *mut JSContext,
  this: JSValue,
  argc: c_int,
  argv: *mut JSValue,
) -> JSValue {
  unsafe { lazy_set(ctx, this, argc, argv, c"toTemporalInstant") }
}

unsafe fn define_lazy(
  ctx: *mut JSContext,
  object: JSValue,
  name: &std::ffi::CStr,
  getter: (JSCFunction, &std::ffi::CStr),
  setter: (JSCFunction, &std::ffi::CStr),
) {
  unsafe {
    let atom = JS_NewAtom(ctx, name.as_ptr());
    // Present already (restored from a snapshot, or lazy already): left as
    // it is. `JS_HasProperty` calls no getter.
    if JS_HasProperty(ctx, object, atom) == 0 {
      let get = JS_NewCFunction(ctx, getter.0, getter.1.as_ptr(), 0);
      let set = JS_NewCFunction(ctx, setter.0, setter.1.as_ptr(), 1);
      let flags = JS_PROP_CONFIGURABLE;
      if JS_DefinePropertyGetSet(ctx, object, atom, get, set, flags) < 0 {
        JS_FreeValue(ctx, JS_GetException(ctx));
      }
    }
    JS_FreeAtom(ctx, atom);
  }
}

/// Installs `Temporal` and `Date.prototype.toTemporalInstant` as lazy
/// accessors where they are absent.
pub(crate) unsafe fn install_lazy(ctx: *mut JSContext, global: JSValue) {
  unsafe {
    define_lazy(
      ctx,
      global,
      c"Temporal",
      (get_temporal, c"get Temporal"),
      (set_temporal, c"set Temporal"),
    );
    let prototype = date_prototype(ctx);
    if jsv_is_object(&prototype) {
      define_lazy(
        ctx,
        prototype,
        c"toTemporalInstant",
        (get_to_temporal_instant, c"get toTemporalInstant"),
        (set_to_temporal_instant, c"set toTemporalInstant"),
      );
    }
    JS_FreeValue(ctx, prototype);
  }
}
