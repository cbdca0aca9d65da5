//! Running the `tenant` binary (the command line with the example models
//! linked) against a test database, as a chosen role.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use serde_json::Value;
use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tenant_runtime::tx::ContextKey;
use tenant_tests::setup;

/// The URL of `role` on the test database (the test server trusts local
/// connections, so no password).
pub(crate) fn role_url(opts: &PgConnectOptions, role: &str) -> String {
    format!(
        "postgres://{role}@{}:{}/{}",
        opts.get_host(),
        opts.get_port(),
        opts.get_database().expect("sqlx::test names the database")
    )
}

/// The `DATABASE_URL` user's URL (a superuser), pointed at the test
/// database: read from the environment, so no superuser URL is written here.
pub(crate) fn owner_url(opts: &PgConnectOptions) -> String {
    let base = std::env::var("DATABASE_URL").expect("the tests run with DATABASE_URL set");
    let base = base.split('?').next().unwrap_or_default();
    let (server, _) = base
        .rsplit_once('/')
        .expect("DATABASE_URL names a database");
    format!(
        "{server}/{}",
        opts.get_database().expect("sqlx::test names the database")
    )
}

/// A URL on a port nothing listens on.
pub(crate) const UNREACHABLE: &str = "postgres://tenant_rt_app@127.0.0.1:1/nowhere";

/// Runs `tenant <args>`, without the test's database variables (nor a
/// context key), so only what is passed on the command line counts.
pub(crate) fn tenant(args: &[&str]) -> Output {
    tenant_with_env(args, &[])
}

/// [`tenant`] with extra environment variables.
pub(crate) fn tenant_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenant"));
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("SYSTEM_DATABASE_URL")
        .env_remove("TENANT_CONTEXT_KEY");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the tenant binary runs")
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// Exit 2 with exactly one line, `error: ...`, that contains `names`, and
/// no panic or backtrace.
pub(crate) fn assert_error_line(out: &Output, names: &str) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {err}",
        stdout(out)
    );
    assert!(
        err.starts_with("error: ") && err.ends_with('\n') && err.lines().count() == 1,
        "{err:?}"
    );
    assert!(err.contains(names), "{err:?} should name {names:?}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

/// `tenant check --json <args>`: the exit code and the parsed report.
pub(crate) fn check_json(args: &[&str]) -> (Option<i32>, Value) {
    check_json_with_env(args, &[])
}

/// [`check_json`] with the service's context key in `TENANT_CONTEXT_KEY`,
/// so the probe enters a tenant as the service's pool does.
pub(crate) fn check_json_with_key(args: &[&str], key: &ContextKey) -> (Option<i32>, Value) {
    check_json_with_env(args, &[("TENANT_CONTEXT_KEY", &key.expose_spec())])
}

/// [`check_json`] with extra environment variables.
pub(crate) fn check_json_with_env(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Value) {
    let mut all = vec!["check", "--json"];
    all.extend_from_slice(args);
    let out = tenant_with_env(&all, env);
    let report = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "check --json printed no JSON ({e}): {}{}",
            stdout(&out),
            stderr(&out)
        )
    });
    (out.status.code(), report)
}

/// Ids of the validations with this status (`pass`, `fail`, `skip`).
pub(crate) fn ids_with(report: &Value, status: &str) -> BTreeSet<String> {
    report["checks"]
        .as_array()
        .expect("checks is an array")
        .iter()
        .filter(|c| c["status"] == status)
        .map(|c| c["id"].as_str().expect("id is a string").to_owned())
        .collect()
}

/// The note of validation `id` (what it found, when it passed with facts).
pub(crate) fn note<'r>(report: &'r Value, id: &str) -> &'r str {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .and_then(|c| c["note"].as_str())
        .unwrap_or_else(|| panic!("{id} has no note: {report:#}"))
}

/// The skip reason of validation `id`.
pub(crate) fn skip_reason<'r>(report: &'r Value, id: &str) -> &'r str {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .and_then(|c| c["skip_reason"].as_str())
        .unwrap_or_else(|| panic!("{id} was not skipped: {report:#}"))
}

/// The findings of validation `id`.
pub(crate) fn findings<'r>(report: &'r Value, id: &str) -> &'r [Value] {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .and_then(|c| c["findings"].as_array())
        .map_or(&[], Vec::as_slice)
}

/// Replaces every hyphenated UUID with `[uuid]`.
pub(crate) fn redact_uuids(text: &str) -> String {
    let is_uuid = |s: &str| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if rest.len() >= 36 && rest.is_char_boundary(36) && is_uuid(&rest[..36]) {
            out.push_str("[uuid]");
            rest = &rest[36..];
        } else {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// A database with `sql` applied by the owner, the two roles and their
/// usual grants, and nothing else: unlike [`TestDb`](crate::common::TestDb)
/// it makes no tenants, so the schema may lack (or break) the tenants table.
pub(crate) struct Scratch {
    /// The owner's pool (a superuser): setup only.
    pub(crate) owner: PgPool,
    pub(crate) opts: PgConnectOptions,
    /// The context key installed, when the schema has the tenancy context.
    pub(crate) key: ContextKey,
}

impl Scratch {
    pub(crate) async fn new(opts: PgConnectOptions, sql: &str) -> Scratch {
        let owner = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .unwrap();
        setup::ensure_roles(&owner).await.unwrap();
        owner
            .execute(sql)
            .await
            .unwrap_or_else(|e| panic!("set-up failed: {e}"));
        setup::grant(&owner).await.unwrap();
        // A schema without the tenancy context (a broken one, or one
        // before its migration) gets no key.
        let key = match setup::install_key(&owner, 1).await {
            Ok(key) => key,
            Err(_) => ContextKey::generate(1),
        };
        Scratch { owner, opts, key }
    }

    /// Runs `sql` as the owner.
    pub(crate) async fn exec(&self, sql: &str) {
        self.owner
            .execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub(crate) fn url(&self, role: &str) -> String {
        role_url(&self.opts, role)
    }

    pub(crate) async fn close(self) {
        self.owner.close().await;
    }
}
