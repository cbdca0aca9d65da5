//! `cargo run --bin tenant -- <command>`: the full command line with the
//! example models linked, so `check` can compare them to a database.

fn main() -> std::process::ExitCode {
    tenant_tests::link();
    tenant_cli::main()
}
