//! The RLS DDL for the example's `notes` table.

fn main() -> std::process::ExitCode {
    // Names the model so the linker keeps its registration.
    let _ = <tenant_examples::Note as tenant_runtime::TenantTable>::META;
    tenant_cli::emit_rls()
}
