//! A hostile tenant and `crypto.DigestStream`: each open digest's hash state lives outside the
//! engine heap, so it is charged to the isolate's external memory (and through it the memory
//! limit) while the stream is open, and given back when the stream closes or aborts.

mod common;

use std::time::Duration;

use common::current_thread_tokio;
use deno_core::{JsRuntime, RuntimeOptions};
use skiff_js_api::{boot, event_channel, extensions, external_memory};

#[test]
fn open_digests_are_charged_to_the_isolate_until_they_close() {
    let tokio = current_thread_tokio();
    let _entered = tokio.enter();
    let (_events, inbox) = event_channel();
    let mut runtime = JsRuntime::new(RuntimeOptions {
        extensions: extensions(inbox),
        ..Default::default()
    });
    boot(&mut runtime).expect("boots");
    let memory = external_memory(&runtime.op_state().borrow());
    let before = memory.used();
    runtime
        .execute_script(
            "open",
            "globalThis.open = Array.from({ length: 1000 }, () => new crypto.DigestStream('SHA-512'));",
        )
        .expect("opens");
    let opened = memory.used() - before;
    assert!(
        opened >= 1000 * 256,
        "1,000 open digests were charged {opened} bytes"
    );
    runtime
        .execute_script(
            "close",
            "for (const [i, stream] of open.entries()) i % 2 ? stream.close() : stream.abort();",
        )
        .expect("closes");
    // The bootstrap's dispatch loop keeps the event loop pending: run it until the deadline.
    tokio.block_on(async {
        let _ = tokio::time::timeout(
            Duration::from_millis(300),
            runtime.run_event_loop(Default::default()),
        )
        .await;
    });
    assert_eq!(
        memory.used(),
        before,
        "closed and aborted digests give it back"
    );
}
