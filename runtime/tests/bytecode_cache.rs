//! The engine layer writes compiled bytecode to no directory but the one the embedder names
//! (`skiff_runtime::keep_bytecode_in`): not upstream's default cache location, and not one an
//! environment variable names (upstream's `V82JSC_BC_CACHE_DIR`). Upstream's cache named entries
//! by a 64-bit non-cryptographic hash and read them back unverified (see vendor/README.md, "A
//! verified bytecode cache"); `edge-node/tests/bytecode.rs` tests the cache Skiff keeps.
//!
//! A test binary of its own: it points the cache locations at a directory of its own before any
//! thread starts.

use std::sync::Arc;

use skiff_runtime::{FetchRequest, IsolateOptions, ResponseBody, ScriptBundle, WorkerPool};

#[test]
fn bytecode_goes_to_no_directory_the_embedder_did_not_name() {
    let home = std::env::temp_dir().join(format!("skiff-bc-test-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("a home");
    // SAFETY: the only test in this binary sets these before it starts a thread.
    unsafe {
        std::env::set_var("HOME", &home);
        std::env::set_var("XDG_CACHE_HOME", home.join("cache"));
        std::env::set_var("V82JSC_BC_CACHE_DIR", home.join("planted"));
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
    let written: Vec<_> = [home.join("cache").join("v8x"), home.join("planted")]
        .into_iter()
        .filter(|dir| dir.exists())
        .collect();
    let _ = std::fs::remove_dir_all(&home);
    assert!(
        written.is_empty(),
        "the engine cached bytecode in {written:?}"
    );
}
