// skiff patch: this whole file. Compiled regular expressions kept per
// process, behind `js_compile_regexp` (vendor/quickjs-ng/quickjs.c).
//
// A bundle's top level builds its regular expressions again in every isolate
// (`new RegExp(...)` of a constant pattern; literals are compiled into the
// bytecode already), and a pattern of Unicode properties takes milliseconds
// to compile: a tenth of a new isolate of an 800 KB bundle of npm packages.
// The engine's regexp bytecode depends only on the pattern and its flags, so
// it is kept here, keyed by both, and copied into the asking runtime.
//
// - Only bytecode of at least `MIN_BYTES` is kept: a small pattern compiles
//   about as fast as it is looked up, and patterns made per request (mostly
//   small) do not churn the table.
// - At most `BUDGET_BYTES` of patterns and bytecode, the oldest out first.
// - Shared by every isolate, as the module bytecode cache is: whether some
//   isolate compiled a large pattern recently shows in how long compiling it
//   takes, and nothing else does.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::ffi::c_char;
use std::ffi::c_int;
use std::ffi::c_void;
use std::sync::Arc;
use std::sync::Mutex;

const MIN_BYTES: usize = 64;
const MAX_PATTERN_BYTES: usize = 16 << 10;
const BUDGET_BYTES: usize = 8 << 20;

type Key = (c_int, Box<[u8]>);

#[derive(Default)]
struct Table {
  entries: HashMap<Key, Arc<[u8]>>,
  order: VecDeque<Key>,
  bytes: usize,
}

impl Table {
  fn insert(&mut self, key: Key, bytecode: Arc<[u8]>) {
    let size = key.1.len() + bytecode.len();
    if self.entries.contains_key(&key) {
      return;
    }
    while self.bytes + size > BUDGET_BYTES {
      let Some(oldest) = self.order.pop_front() else {
        break;
      };
      if let Some(gone) = self.entries.remove(&oldest) {
        self.bytes -= oldest.1.len() + gone.len();
      }
    }
    self.bytes += size;
    self.order.push_back(key.clone());
    self.entries.insert(key, bytecode);
  }
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

fn with_table<R>(f: impl FnOnce(&mut Table) -> R) -> R {
  let mut guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
  f(guard.get_or_insert_with(Table::default))
}

/// What the caller's allocator gives: the runtime's own `js_malloc`, so that
/// the copy is counted against the isolate's heap like compiled bytecode.
type Allocate = unsafe extern "C" fn(opaque: *mut c_void, size: usize) -> *mut c_void;

/// Looks for the bytecode of `pattern` under `flags`. Returns 1 with
/// `*bytecode` a copy made by `allocate` and `*length` its size, 0 when none
/// is kept, -1 when `allocate` failed (it has thrown).
///
/// # Safety
/// `pattern` points at `pattern_len` readable bytes; `bytecode` and `length`
/// are writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn skiff_regexp_cache_find(
  pattern: *const c_char,
  pattern_len: usize,
  flags: c_int,
  allocate: Allocate,
  opaque: *mut c_void,
  bytecode: *mut *mut u8,
  length: *mut c_int,
) -> c_int {
  if pattern_len > MAX_PATTERN_BYTES {
    return 0;
  }
  let pattern =
    unsafe { std::slice::from_raw_parts(pattern as *const u8, pattern_len) };
  let key: Key = (flags, pattern.into());
  let Some(found) = with_table(|table| table.entries.get(&key).cloned()) else {
    return 0;
  };
  let copy = unsafe { allocate(opaque, found.len()) } as *mut u8;
  if copy.is_null() {
    return -1;
  }
  unsafe {
    std::ptr::copy_nonoverlapping(found.as_ptr(), copy, found.len());
    *bytecode = copy;
    *length = found.len() as c_int;
  }
  1
}

/// Keeps the bytecode just compiled for `pattern` under `flags`.
///
/// # Safety
/// `pattern` and `bytecode` point at `pattern_len` and `length` readable
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn skiff_regexp_cache_keep(
  pattern: *const c_char,
  pattern_len: usize,
  flags: c_int,
  bytecode: *const u8,
  length: c_int,
) {
  let length = length.max(0) as usize;
  if length < MIN_BYTES || pattern_len > MAX_PATTERN_BYTES {
    return;
  }
  let pattern =
    unsafe { std::slice::from_raw_parts(pattern as *const u8, pattern_len) };
  let bytecode: Arc<[u8]> =
    unsafe { std::slice::from_raw_parts(bytecode, length) }.into();
  with_table(|table| table.insert((flags, pattern.into()), bytecode));
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn the_table_keeps_the_newest_within_its_budget() {
    let mut table = Table::default();
    let big = BUDGET_BYTES / 2 - 8;
    table.insert((0, b"a".as_slice().into()), vec![0u8; big].into());
    table.insert((0, b"b".as_slice().into()), vec![1u8; big].into());
    assert_eq!(table.entries.len(), 2);
    table.insert((0, b"c".as_slice().into()), vec![2u8; big].into());
    assert!(!table.entries.contains_key(&(0, b"a".as_slice().into())));
    assert!(table.entries.contains_key(&(0, b"c".as_slice().into())));
    assert_eq!(table.bytes, 2 * (big + 1));
    // The same pattern under other flags is another entry.
    assert!(!table.entries.contains_key(&(1, b"c".as_slice().into())));
  }
}
