//! The engine layer writes no compiled bytecode to a shared disk cache: its cache names entries
//! by a 64-bit non-cryptographic hash of the source and reads them back unverified, so one
//! tenant's code could be served to another whose source collided with it (see vendor/README.md,
//! "The engine's bytecode disk cache is off").
//!
//! A test binary of its own: it points the cache locations at a directory of its own before any
//! thread starts.

use std::sync::Arc;

use skiff_runtime::{FetchRequest, IsolateOptions, ResponseBody, ScriptBundle, WorkerPool};

#[test]
fn tenant_code_is_not_cached_on_disk() {
    let home = std::env::temp_dir().join(format!("skiff-bc-test-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("a home");
    // SAFETY: the only test in this binary sets these before it starts a thread.
    unsafe {
        std::env::set_var("HOME", &home);
        std::env::set_var("XDG_CACHE_HOME", home.join("cache"));
        std::env::remove_var("V82JSC_BC_CACHE_DIR");
        std::env::remove_var("V82JSC_NO_BC_CACHE");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(async {
        let pool = WorkerPool::with_warm(1, 0).expect("pool");
        let source = "export default { fetch() { return new Response(\"cached?\"); } };";
        let isolate = pool
            .load(
                Arc::new(ScriptBundle::single("bc", source)),
                IsolateOptions::new("bc"),
            )
            .await
            .expect("loads");
        let head = isolate
            .fetch(FetchRequest {
                method: "GET".into(),
                url: "http://bc.localhost/".into(),
                headers: vec![],
                body: None,
                meter: None,
            })
            .await
            .expect("a response");
        let ResponseBody::Full(body) = head.body else {
            panic!("a complete body");
        };
        assert_eq!(&body[..], b"cached?");
    });
    let cache = home.join("cache").join("v8x");
    let written = cache.exists();
    let _ = std::fs::remove_dir_all(&home);
    assert!(
        !written,
        "the engine cached bytecode in {}",
        cache.display()
    );
}
