//! `cargo run --bin emit-rls`: the RLS DDL for the example models.

fn main() -> std::process::ExitCode {
    tenant_tests::link();
    tenant_cli::emit_rls()
}
