//! The tenant command line (emit-rls, roles, check, seed, ..) with this
//! example's models linked:
//!
//! ```sh
//! cargo run -p tenant-saas-example --bin saas-tenant -- emit-rls -o examples/saas/migrations
//! ```

fn main() -> std::process::ExitCode {
    tenant_saas_example::models::link();
    tenant_cli::main()
}
