//! Rebuilds the crate when `migrations/` changes.
// `sqlx::migrate!` embeds `migrations/` at compile time; without this a
// migration added by `emit-rls -o` would not be picked up until some
// source file changed.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
