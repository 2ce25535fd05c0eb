//! The web-platform-tests runner (issue #5): being built.

fn main() {
    println!("skiff-conformance: the WPT runner is not built yet (issue #5)");
}
