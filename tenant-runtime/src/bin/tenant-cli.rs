//! `tenant-cli`: the commands that need no models (`check`, `seed`,
//! `init`, `add-table`). For `emit-rls` and model drift checks, call
//! `tenant_runtime::cli::main()` from a binary that links your models.

fn main() -> std::process::ExitCode {
    tenant_runtime::cli::main()
}
