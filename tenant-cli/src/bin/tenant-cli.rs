//! `tenant-cli`: the commands that need no models (`seed`, `init`,
//! `add-table`, `roles`, `context-key`, `compat`). `emit-rls` and `check`
//! refuse to run here: call `tenant_cli::main()` from a binary that links
//! your models.

fn main() -> std::process::ExitCode {
    tenant_cli::main()
}
