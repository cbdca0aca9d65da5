//! `tenant-cli`: the commands that need no models (`check`, `seed`,
//! `init`, `add-table`, `roles`). For `emit-rls` and model drift checks,
//! call `tenant_cli::main()` from a binary that links your models.

fn main() -> std::process::ExitCode {
    tenant_cli::main()
}
