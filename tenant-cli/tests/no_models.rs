//! The model-less `tenant-cli` binary: `emit-rls` and `check` refuse to
//! run without a linked model (the usual cause is a binary that links none
//! by accident), say how to link them, and exit 2; `--allow-no-models`
//! prints the shared DDL on purpose.

use std::process::Command;

fn tenant_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tenant-cli"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("SYSTEM_DATABASE_URL")
        .output()
        .expect("the binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn emit_rls_and_check_without_models_fail_with_the_fix() {
    for args in [
        &["--no-dotenv", "emit-rls"][..],
        &[
            "--no-dotenv",
            "check",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
        ][..],
    ] {
        let (code, stdout, stderr) = tenant_cli(args);
        assert_eq!(code, Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{args:?}: nothing printed: {stdout}");
        assert!(
            stderr.contains("no #[derive(TenantScoped)] model is linked")
                && stderr.contains("my_models::link(); tenant_cli::main()"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn emit_rls_prints_the_shared_part_when_asked_to() {
    let (code, stdout, stderr) = tenant_cli(&["--no-dotenv", "emit-rls", "--allow-no-models"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("CREATE TABLE IF NOT EXISTS public.tenants"));
    assert!(!stdout.contains("rls_tenant_"), "no model's policy");
}
