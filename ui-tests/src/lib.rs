//! Compile-fail cases live in `tests/ui`; this crate only runs them.
