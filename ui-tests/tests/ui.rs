//! What must not compile, and the message the compiler gives for it.
//!
//! Every `tests/ui/<group>/<case>.rs` holds one mistake; its committed
//! `.stderr` is the exact compiler output. The `pass` cases compile the
//! same shapes done right, so a failing case fails for the reason it
//! names and not for a typo. Regenerate with
//! `TRYBUILD=overwrite cargo test -p tenant-ui-tests` and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/derive/*.rs");
    t.compile_fail("tests/ui/api/*.rs");
}
