//! The `emit-rls` binary: stdout, `-o DIR`, `--check DIR`, `--dry-run`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::rls_ddl;

/// Runs the example models' `emit-rls` binary.
pub(crate) fn emit_rls(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emit-rls"))
        .args(args)
        .output()
        .unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tenant-emit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn prints_the_ddl_with_no_database_and_no_configuration() {
    let out = Command::new(env!("CARGO_BIN_EXE_emit-rls"))
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), rls_ddl());
}

#[test]
fn writes_a_migration_only_when_the_models_changed() {
    let dir = temp_dir("write");
    let d = dir.to_str().unwrap();
    let first = emit_rls(&["-o", d]);
    assert!(first.status.success());
    let written = files(&dir);
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(
        written[0].ends_with("_tenant_rls.sql") && written[0].len() == 14 + "_tenant_rls.sql".len(),
        "{written:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(&written[0])).unwrap(),
        rls_ddl()
    );

    let again = emit_rls(&["-o", d]);
    assert!(again.status.success());
    assert!(stdout(&again).contains("up to date"), "{}", stdout(&again));
    assert_eq!(files(&dir), written, "an unchanged model writes nothing");

    // The models "changed": the newest file holds older DDL. A new file is
    // added and the applied one is left byte for byte.
    let old = rls_ddl().replace("tenants_read", "tenants_read_old");
    let applied = dir.join("20000101000000_tenant_rls.sql");
    std::fs::remove_file(dir.join(&written[0])).unwrap();
    std::fs::write(&applied, &old).unwrap();
    let dry = emit_rls(&["-o", d, "--dry-run"]);
    assert!(
        dry.status.success() && stdout(&dry).starts_with("would write"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(files(&dir).len(), 1, "dry run writes nothing");
    assert!(emit_rls(&["-o", d]).status.success());
    assert_eq!(files(&dir).len(), 2);
    assert_eq!(std::fs::read_to_string(&applied).unwrap(), old);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_exits_1_with_a_diff_on_drift() {
    let dir = temp_dir("check");
    let d = dir.to_str().unwrap();
    let missing = emit_rls(&["--check", d]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stdout(&missing).contains("no *_tenant_rls.sql"),
        "{}",
        stdout(&missing)
    );

    assert!(emit_rls(&["-o", d]).status.success());
    let ok = emit_rls(&["--check", d]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));

    let file = dir.join(&files(&dir)[0]);
    let drifted = std::fs::read_to_string(&file).unwrap().replace(
        "FORCE ROW LEVEL SECURITY;\nDROP POLICY IF EXISTS \"rls_tenant_tasks\"",
        "DROP POLICY IF EXISTS \"rls_tenant_tasks\"",
    );
    std::fs::write(&file, drifted).unwrap();
    let drift = emit_rls(&["--check", d]);
    assert_eq!(drift.status.code(), Some(1));
    let text = stdout(&drift);
    assert!(
        text.contains("+ALTER TABLE \"public\".\"tasks\" FORCE ROW LEVEL SECURITY;"),
        "{text}"
    );
    assert!(text.contains("no longer matches the models"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    let out = emit_rls(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    let out = emit_rls(&["-o", "a", "--check", "b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}
