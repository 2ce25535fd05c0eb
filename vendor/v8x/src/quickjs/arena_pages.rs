// skiff patch: this whole file. The pages of QuickJS's small-object arenas
// (`arena_new` in vendor/quickjs-ng/quickjs.c), kept per thread.
//
// Every object, shape and short string of a runtime lives in a 4 KiB arena
// page. A new isolate of an 800 KB bundle takes about 3,000 of them while its
// bytecode is read and its top level runs, and each came fresh from malloc:
// the heap grown by a system call every 128 KiB and every page faulted in,
// about a fifth of the isolate's cold start. Here a thread keeps the pages its
// runtimes gave back (up to `MAX_KEPT`), and the embedder can fill the store
// ahead of time (`fill_arena_pages`, from the task that pre-boots runtimes),
// touching each page, so that a cold start takes pages already in memory.
// A page is a plain `malloc` block of `PAGE_BYTES`, so it may be given back on
// another thread than the one that took it, or freed when a store is full.

use std::cell::RefCell;
use std::ffi::c_void;

/// `JS_ARENA_SIZE` in quickjs.c.
const PAGE_BYTES: usize = 4096;
/// At most this many pages (16 MiB) are kept per thread.
pub const MAX_KEPT: usize = 4096;

unsafe extern "C" {
  fn malloc(size: usize) -> *mut c_void;
  fn free(ptr: *mut c_void);
}

struct Store {
  pages: Vec<*mut c_void>,
}

impl Drop for Store {
  fn drop(&mut self) {
    for page in self.pages.drain(..) {
      unsafe { free(page) };
    }
  }
}

thread_local! {
  static STORE: RefCell<Store> = const { RefCell::new(Store { pages: Vec::new() }) };
}

/// A page of `PAGE_BYTES` for a new arena: a kept one, else a new block.
#[unsafe(no_mangle)]
pub extern "C" fn skiff_arena_page_take() -> *mut c_void {
  STORE
    .try_with(|store| store.borrow_mut().pages.pop())
    .ok()
    .flatten()
    .unwrap_or_else(|| unsafe { malloc(PAGE_BYTES) })
}

/// An empty arena's page: kept for the next arena while the store has room.
#[unsafe(no_mangle)]
pub extern "C" fn skiff_arena_page_give(page: *mut c_void) {
  if page.is_null() {
    return;
  }
  let kept = STORE
    .try_with(|store| {
      let mut store = store.borrow_mut();
      if store.pages.len() < MAX_KEPT {
        store.pages.push(page);
        true
      } else {
        false
      }
    })
    .unwrap_or(false);
  if !kept {
    unsafe { free(page) };
  }
}

/// Fills this thread's store up to `pages` (at most `MAX_KEPT`), writing
/// every new page so that it is in memory before an isolate needs it.
/// Returns how many pages the store holds.
pub fn fill_arena_pages(pages: usize) -> usize {
  let want = pages.min(MAX_KEPT);
  STORE.with(|store| {
    let mut store = store.borrow_mut();
    let missing = want.saturating_sub(store.pages.len());
    store.pages.reserve(missing);
    while store.pages.len() < want {
      let page = unsafe { malloc(PAGE_BYTES) };
      if page.is_null() {
        break;
      }
      unsafe { std::ptr::write_bytes(page as *mut u8, 0, PAGE_BYTES) };
      store.pages.push(page);
    }
    store.pages.len()
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn pages_are_kept_up_to_the_cap_and_reused() {
    std::thread::spawn(|| {
      assert_eq!(fill_arena_pages(3), 3);
      let a = skiff_arena_page_take();
      let b = skiff_arena_page_take();
      assert_eq!(fill_arena_pages(0), 1, "two of three taken");
      skiff_arena_page_give(a);
      assert_eq!(skiff_arena_page_take(), a, "the page given back is reused");
      skiff_arena_page_give(a);
      skiff_arena_page_give(b);
      assert_eq!(fill_arena_pages(MAX_KEPT + 10), MAX_KEPT);
      skiff_arena_page_give(skiff_arena_page_take());
      let extra = unsafe { malloc(PAGE_BYTES) };
      skiff_arena_page_give(extra);
      assert_eq!(fill_arena_pages(0), MAX_KEPT, "a full store frees");
    })
    .join()
    .unwrap();
  }
}
