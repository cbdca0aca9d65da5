//! `tenant check`: every validation passes on the example database and
//! fails on a database built to break it; exit codes, JSON shape, errors.

use std::collections::BTreeSet;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::cli_common::{
    Scratch, UNREACHABLE, assert_error_line, check_json, check_json_with_key, findings, ids_with,
    note, owner_url, redact_uuids, role_url, skip_reason, stdout, tenant, tenant_with_env,
};
use crate::common::{APP_ROLE, Mechanism, SYSTEM_ROLE, TestDb, rls_ddl};

/// Rows for both tenants in every example table, written by the owner,
/// so "sees no rows" means something.
async fn add_rows(db: &TestDb) {
    for (i, tenant) in db.tenants.iter().enumerate() {
        let sql = "WITH p AS (INSERT INTO projects (tenant_id, name) VALUES ($1, 'p' || $2) RETURNING id),
                        u AS (INSERT INTO users (tenant_id, email, name) VALUES ($1, 'u' || $2 || '@x.test', 'U') RETURNING id)
                   INSERT INTO tasks (tenant_id, project_id, assignee_id, title, done)
                   SELECT $1, p.id, u.id, 'task', false FROM p, u";
        sqlx::query(sql)
            .bind(tenant)
            .bind(i.to_string())
            .execute(&db.owner)
            .await
            .unwrap();
    }
}

fn all_ids(report: &serde_json::Value) -> BTreeSet<String> {
    ["pass", "fail", "skip"]
        .iter()
        .flat_map(|s| ids_with(report, s))
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

#[sqlx::test]
async fn the_example_database_passes_every_check(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts.clone()).await;
    add_rows(&db).await;
    let app = role_url(&opts, APP_ROLE);
    let system = role_url(&opts, SYSTEM_ROLE);

    let (code, report) =
        check_json_with_key(&["--database-url", &app, "--system-url", &system], &db.key);
    assert_eq!(code, Some(0), "{report:#}");
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 25, "{} validations", checks.len());
    // Everything passes; only the extension's check has nothing to check.
    assert_eq!(
        ids_with(&report, "skip"),
        set(&["context.extension-sealed"]),
        "{report:#}"
    );
    assert!(skip_reason(&report, "context.extension-sealed").contains("not installed"));
    assert_eq!(
        ids_with(&report, "pass").len(),
        checks.len() - 1,
        "all pass: {report:#}"
    );
    // The probe entered a tenant as TenantPool does and went through a
    // row of its own in every table: a task, after the project it needs.
    let own = note(&report, "probe.tenant-own-rows");
    assert!(
        own.contains("entered through TenantPool (the session mechanism)")
            && own.contains("updated and deleted a made-up row of its own in public.projects, public.tasks, public.users")
            && !own.contains("only read"),
        "{own}"
    );
    let mechanism = note(&report, "context.mechanism");
    assert!(
        mechanism.contains("lists session, bound")
            && mechanism.contains("enters tenants with session")
            && mechanism.contains("cannot be seen from the database"),
        "{mechanism}"
    );
    for c in checks {
        for key in ["id", "severity", "title", "status"] {
            assert!(
                c[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key} in {c}"
            );
        }
        assert!(
            ["error", "warning"].contains(&c["severity"].as_str().unwrap()),
            "{c}"
        );
        assert_eq!(c["findings"], serde_json::json!([]), "{c}");
    }
    assert_eq!(all_ids(&report).len(), checks.len(), "ids are unique");
    assert_eq!(report["role"], APP_ROLE);
    assert_eq!(report["system_role"], SYSTEM_ROLE);
    assert_eq!(report["models"], 3);
    assert_eq!(
        report["tenant_tables"],
        serde_json::json!(["public.projects", "public.tasks", "public.users"])
    );
    let summary = &report["summary"];
    assert_eq!(
        (summary["checks"].as_u64(), summary["passed"].as_u64()),
        (Some(checks.len() as u64), Some(checks.len() as u64 - 1))
    );
    assert_eq!(
        (
            summary["errors"].as_u64(),
            summary["warnings"].as_u64(),
            summary["skipped"].as_u64()
        ),
        (Some(0), Some(0), Some(1))
    );

    // The same as text, and DATABASE_URL / SYSTEM_DATABASE_URL /
    // TENANT_CONTEXT_KEY stand in for the flags.
    let key = db.key.expose_spec();
    let out = tenant_with_env(
        &["check"],
        &[
            ("DATABASE_URL", &app),
            ("SYSTEM_DATABASE_URL", &system),
            ("TENANT_CONTEXT_KEY", &key),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "{n} validations: {p} passed, 0 failed (error), 0 failed (warning), 1 skipped",
            n = checks.len(),
            p = checks.len() - 1
        )),
        "{text}"
    );
    assert!(
        text.lines().filter(|l| l.starts_with("ok ")).count() == checks.len() - 1,
        "{text}"
    );
    assert!(
        text.contains(own),
        "the note is printed under its line: {text}"
    );

    // --context-key does what the variable does.
    let (code, report) = check_json(&["--database-url", &app, "--context-key", &key]);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(ids_with(&report, "pass").contains("probe.tenant-own-rows"));

    // --no-probe leaves the probe out (and says so), nothing else.
    let (code, report) = check_json(&["--database-url", &app, "--no-probe"]);
    assert_eq!(code, Some(0));
    let skipped = ids_with(&report, "skip");
    assert!(
        skipped.iter().all(|id| id.starts_with("probe.")
            || id.starts_with("role.system")
            || id == "context.extension-sealed"),
        "{skipped:?}"
    );
    assert_eq!(
        skipped.iter().filter(|id| id.starts_with("probe.")).count(),
        7
    );
    db.close().await;
}

/// The example schema, broken in as many ways as one database can be.
const BROKEN: &str = "
ALTER TABLE public.tasks NO FORCE ROW LEVEL SECURITY;
GRANT TRUNCATE ON public.projects TO tenant_rt_app;
CREATE POLICY open_projects ON public.projects FOR SELECT USING (true);
ALTER TABLE public.users RENAME COLUMN name TO full_name;
DROP INDEX public.users_tenant_id_email_key;
DROP POLICY rls_tenant_users ON public.users;
CREATE POLICY users_by_tenant ON public.users
    USING (tenant_id = (SELECT tenancy.current_tenant()))
    WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
-- @usebetterdev/tenant's write policy: trusts a setting any SQL can set.
CREATE POLICY rls_tenants_write ON public.tenants USING (current_setting('app.bypass_rls', true) = 'on');

-- A tenant table in another schema with no isolation at all, owned by the app role.
CREATE SCHEMA crm;
GRANT USAGE ON SCHEMA crm TO PUBLIC;
CREATE TABLE crm.contacts (
    id bigint PRIMARY KEY,
    tenant_id uuid,
    email text UNIQUE,
    project_id bigint REFERENCES public.projects (id)
);
GRANT SELECT ON crm.contacts TO PUBLIC;
ALTER TABLE crm.contacts OWNER TO tenant_rt_app;

-- A table with @usebetterdev/tenant's policy: a text cast, no WITH CHECK.
CREATE TABLE public.notes (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL DEFAULT tenancy.current_tenant() REFERENCES public.tenants (id),
    body text
);
CREATE INDEX notes_tenant_idx ON public.notes (tenant_id);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON public.notes USING (tenant_id::text = current_setting('app.current_tenant', true));

CREATE VIEW public.task_titles AS SELECT id, title FROM public.tasks;
CREATE MATERIALIZED VIEW public.project_counts AS SELECT tenant_id, count(*) AS n FROM public.projects GROUP BY tenant_id;
GRANT SELECT ON public.project_counts TO tenant_rt_app;
CREATE FUNCTION public.count_all_tasks() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    AS 'SELECT count(*) FROM public.tasks';
";

async fn broken_db(opts: PgConnectOptions) -> TestDb {
    let db = TestDb::with_ddl(opts, &format!("{}\n{BROKEN}", rls_ddl())).await;
    let [a, b] = db.tenants;
    for (i, tenant) in [a, b].iter().enumerate() {
        sqlx::query("INSERT INTO projects (tenant_id, name) VALUES ($1, 'p' || $2)")
            .bind(tenant)
            .bind(i.to_string())
            .execute(&db.owner)
            .await
            .unwrap();
        sqlx::query("INSERT INTO crm.contacts (id, tenant_id, email) VALUES ($1, $2, 'c' || $1 || '@x.test')")
            .bind(i as i64)
            .bind(tenant)
            .execute(&db.owner)
            .await
            .unwrap();
    }
    db
}

#[sqlx::test]
async fn a_broken_schema_fails_the_checks_it_breaks(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = broken_db(opts.clone()).await;
    let app = role_url(&opts, APP_ROLE);
    let system = role_url(&opts, SYSTEM_ROLE);
    let (code, report) =
        check_json_with_key(&["--database-url", &app, "--system-url", &system], &db.key);
    assert_eq!(code, Some(1), "errors exit 1");
    let expected = set(&[
        "role.owns-no-tenant-table",
        "tenants.write-system-only",
        "table.rls-enabled",
        "table.rls-forced",
        "policy.present",
        "policy.tenant-predicate",
        "policy.no-bypass-setting",
        "policy.using-and-check",
        "policy.no-cast",
        "policy.reads-once",
        "policy.exact",
        "column.tenant-uuid-not-null",
        "column.tenant-fk",
        "column.tenant-default",
        "column.tenant-move-guard",
        "index.leads-with-tenant",
        "unique.includes-tenant",
        "fk.includes-tenant",
        "grant.no-public",
        "grant.no-truncate",
        "view.security-invoker",
        "view.no-materialized",
        "function.security-definer",
        "drift.model-columns",
        "drift.model-rls",
        "drift.model-keys",
        "drift.unmodelled-table",
        "probe.no-tenant-fails-closed",
        "probe.no-tenant-error",
        "probe.random-tenant-sees-nothing",
        "probe.cross-tenant-insert-refused",
        "probe.forged-switch-refused",
    ]);
    assert_eq!(ids_with(&report, "fail"), expected, "{report:#}");
    assert_eq!(
        ids_with(&report, "skip"),
        set(&["context.extension-sealed"])
    );
    // A tenant still reads and writes its own rows everywhere, even where
    // everyone's are open (crm.contacts, whose row points at the project
    // the probe made first).
    assert!(
        note(&report, "probe.tenant-own-rows")
            .contains("in crm.contacts, public.notes, public.projects, public.tasks, public.users"),
        "{report:#}"
    );
    for id in &expected {
        for f in findings(&report, id) {
            for key in ["object", "message", "fix"] {
                assert!(
                    f[key].as_str().is_some_and(|s| !s.is_empty()),
                    "{id}: {key} in {f}"
                );
            }
        }
    }
    // Every schema is checked, not only public, and each finding names its object.
    let objects = |id: &str| {
        findings(&report, id)
            .iter()
            .map(|f| f["object"].as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(objects("table.rls-enabled"), set(&["crm.contacts"]));
    assert_eq!(objects("table.rls-forced"), set(&["public.tasks"]));
    assert_eq!(objects("policy.no-cast"), set(&["public.notes"]));
    assert_eq!(
        objects("policy.no-bypass-setting"),
        set(&["public.tenants"])
    );
    assert_eq!(
        objects("policy.tenant-predicate"),
        set(&["public.notes", "public.projects"])
    );
    assert_eq!(
        objects("view.security-invoker"),
        set(&["public.task_titles"])
    );
    assert_eq!(
        objects("view.no-materialized"),
        set(&["public.project_counts"])
    );
    assert_eq!(
        objects("function.security-definer"),
        set(&["public.count_all_tasks()"])
    );
    assert_eq!(
        objects("grant.no-truncate"),
        set(&["crm.contacts", "public.projects"])
    );
    assert_eq!(
        objects("drift.unmodelled-table"),
        set(&["crm.contacts", "public.notes"])
    );
    assert_eq!(
        objects("probe.random-tenant-sees-nothing"),
        set(&["crm.contacts", "public.projects"])
    );
    assert!(
        findings(&report, "policy.no-cast")[0]["message"]
            .as_str()
            .unwrap()
            .contains("(tenant_id)::text")
    );

    // The text report, with what varies per run normalised: the database
    // name, the uuids, and the owner (the DATABASE_URL user).
    let owner: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    let available: Option<String> = sqlx::query_scalar(
        "SELECT default_version::text FROM pg_available_extensions WHERE name = 'tenant_context'",
    )
    .fetch_optional(&db.owner)
    .await
    .unwrap();
    let key = db.key.expose_spec();
    let text = stdout(&tenant_with_env(
        &["check", "--database-url", &app, "--system-url", &system],
        &[("TENANT_CONTEXT_KEY", &key)],
    ));
    let text = match available {
        Some(v) => text.replace(&format!("has version {v}:"), "has version [version]:"),
        None => text,
    };
    let text = text
        .replace(opts.get_database().unwrap(), "[db]")
        .replace(&format!("owner {owner}"), "owner [owner]")
        .replace(&format!("runs as {owner},"), "runs as [owner],");
    let text = redact_uuids(&text);
    insta::assert_snapshot!("check_on_a_broken_schema", text);
    db.close().await;
}

/// A database as @usebetterdev/tenant leaves it: its tenants table and a
/// policy that reads the setting itself, no `tenancy` schema.
const LEGACY: &str = "
CREATE TABLE public.tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.orders (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES public.tenants (id),
    total numeric NOT NULL DEFAULT 0
);
ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.orders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON public.orders USING (tenant_id = current_setting('app.current_tenant')::uuid);
";

#[sqlx::test]
async fn a_legacy_schema_fails_the_tenants_and_context_checks(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = Scratch::new(opts, LEGACY).await;
    db.exec(&format!("REVOKE SELECT ON public.tenants FROM {APP_ROLE}"))
        .await;
    let (code, report) = check_json(&["--database-url", &db.url(APP_ROLE)]);
    assert_eq!(code, Some(1));
    let expected = set(&[
        "tenants.shape",
        "tenants.readable",
        "tenants.write-system-only",
        "context.current-tenant",
        "context.enter-tenant",
        "context.guard-functions",
        "context.keys-private",
        "policy.tenant-predicate",
        "policy.using-and-check",
        "policy.reads-once",
        "column.tenant-default",
        "column.tenant-move-guard",
        "index.leads-with-tenant",
        "drift.model-table-exists",
        "drift.unmodelled-table",
        "probe.no-tenant-error",
        "probe.tenants-write-refused",
        // No tenancy.context_mechanisms(): no TenantPool can start.
        "context.mechanism",
    ]);
    assert_eq!(ids_with(&report, "fail"), expected, "{report:#}");
    let shape: Vec<&str> = findings(&report, "tenants.shape")
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(shape.len(), 1);
    assert!(shape[0].contains("deleted_at"), "{shape:?}");
    // Reading the setting itself fails with a cast or missing-setting
    // error instead of the no-tenant-context one, on both kinds of "no tenant".
    let probe: Vec<&str> = findings(&report, "probe.no-tenant-error")
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(probe.len(), 2, "{probe:?}");
    assert!(
        probe[0].contains("unset") && probe[0].contains("42704"),
        "{}",
        probe[0]
    );
    assert!(
        probe[1].contains("empty") && probe[1].contains("22P02"),
        "{}",
        probe[1]
    );
    // The role checks that need --system-url say so rather than passing.
    let skipped = ids_with(&report, "skip");
    assert_eq!(
        skipped,
        set(&[
            // No tenancy schema, and no tenant the role can read to forge.
            "context.functions-pinned",
            "context.no-compat-for-app",
            "context.extension-sealed",
            "probe.forged-switch-refused",
            // No context key given.
            "probe.tenant-own-rows",
            "role.system-bypasses-rls",
            "role.system-distinct",
            "role.system-not-superuser"
        ])
    );
    db.close().await;
}

#[sqlx::test]
async fn a_database_without_a_tenants_table_fails_tenants_exists(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = Scratch::new(
        opts,
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, tenant_id uuid)",
    )
    .await;
    let (code, report) = check_json(&["--database-url", &db.url(APP_ROLE)]);
    assert_eq!(code, Some(1));
    let failed = ids_with(&report, "fail");
    assert!(
        failed.contains("tenants.exists") && failed.contains("drift.model-table-exists"),
        "{failed:?}"
    );
    let skipped = ids_with(&report, "skip");
    for id in [
        "tenants.shape",
        "tenants.readable",
        "tenants.write-system-only",
        "probe.tenants-write-refused",
    ] {
        assert!(
            skipped.contains(id),
            "{id} skips without a tenants table: {skipped:?}"
        );
    }
    db.close().await;
}

#[sqlx::test]
async fn roles_that_skip_rls_fail_the_role_checks(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts.clone()).await;
    let app = role_url(&opts, APP_ROLE);
    let system = role_url(&opts, SYSTEM_ROLE);
    let owner = owner_url(&opts);
    let failed = |args: &[&str]| {
        let (code, report) = check_json(args);
        assert_eq!(code, Some(1), "{report:#}");
        ids_with(&report, "fail")
    };

    assert!(failed(&["--database-url", &owner, "--no-probe"]).contains("role.not-superuser"));
    assert!(failed(&["--database-url", &system, "--no-probe"]).contains("role.no-bypassrls"));
    let same = failed(&["--database-url", &app, "--system-url", &app, "--no-probe"]);
    assert!(
        same.contains("role.system-bypasses-rls") && same.contains("role.system-distinct"),
        "{same:?}"
    );
    let (code, report) =
        check_json(&["--database-url", &app, "--system-url", &owner, "--no-probe"]);
    assert_eq!(code, Some(0), "a superuser system role is a warning");
    assert_eq!(
        ids_with(&report, "fail"),
        set(&["role.system-not-superuser"])
    );

    // A role that can SET ROLE to the system role escapes every policy.
    // Roles are cluster-wide: the name is this database's, and it goes at the end.
    let db_name = opts.get_database().unwrap();
    let member = format!(
        "tenant_cli_member_{}",
        db_name[db_name.len().saturating_sub(12)..].to_lowercase()
    );
    let grant = format!(
        "DROP ROLE IF EXISTS {member}; CREATE ROLE {member} LOGIN; GRANT {SYSTEM_ROLE} TO {member}; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {member}"
    );
    sqlx::raw_sql(&grant).execute(&db.owner).await.unwrap();
    let out = tenant(&[
        "check",
        "--json",
        "--database-url",
        &role_url(&opts, &member),
        "--system-url",
        &system,
    ]);
    sqlx::raw_sql(&format!("DROP OWNED BY {member}; DROP ROLE {member}"))
        .execute(&db.owner)
        .await
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let code = out.status.code();
    assert_eq!(code, Some(1));
    assert_eq!(
        ids_with(&report, "fail"),
        set(&["role.not-member-of-privileged"]),
        "{report:#}"
    );
    let message = findings(&report, "role.not-member-of-privileged")[0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains(SYSTEM_ROLE) && message.contains("SET ROLE"),
        "{message}"
    );
    db.close().await;
}

#[sqlx::test]
async fn warnings_fail_the_run_only_with_strict(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::with_ddl(
        opts.clone(),
        &format!(
            "{}\nDROP TRIGGER tenant_move_guard ON public.tasks;",
            rls_ddl()
        ),
    )
    .await;
    let app = role_url(&opts, APP_ROLE);
    let (code, report) = check_json(&["--database-url", &app]);
    assert_eq!(
        (code, ids_with(&report, "fail")),
        (Some(0), set(&["column.tenant-move-guard"]))
    );
    let (code, _) = check_json(&["--database-url", &app, "--strict"]);
    assert_eq!(code, Some(1));
    let (code, report) = check_json(&[
        "--database-url",
        &app,
        "--strict",
        "--skip",
        "column.tenant-move-guard",
    ]);
    assert_eq!(code, Some(0));
    let skipped = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "column.tenant-move-guard")
        .unwrap();
    assert_eq!(
        (skipped["status"].as_str(), skipped["skip_reason"].as_str()),
        (Some("skip"), Some("left out with --skip"))
    );
    db.close().await;
}

#[sqlx::test]
async fn bad_input_is_one_line_and_exit_2(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = Scratch::new(opts, "SELECT 1").await;
    assert_error_line(
        &tenant(&["check", "--database-url", UNREACHABLE]),
        "127.0.0.1:1",
    );
    let nobody = db.url("tenant_cli_nobody");
    assert_error_line(
        &tenant(&["check", "--database-url", &nobody]),
        "role \"tenant_cli_nobody\" does not exist",
    );
    let no_db = role_url(&db.opts, APP_ROLE)
        .replace(db.opts.get_database().unwrap(), "tenant_cli_no_such_db");
    assert_error_line(
        &tenant(&["check", "--database-url", &no_db]),
        "database \"tenant_cli_no_such_db\" does not exist",
    );
    assert_error_line(
        &tenant(&["check", "--database-url", "mysql://x@y/z"]),
        "not a PostgreSQL URL",
    );
    assert_error_line(&tenant(&["check"]), "--database-url");
    assert_error_line(
        &tenant(&[
            "check",
            "--database-url",
            &db.url(APP_ROLE),
            "--skip",
            "no.such-check",
        ]),
        "no.such-check",
    );
    let bad_system = tenant(&[
        "check",
        "--database-url",
        &db.url(APP_ROLE),
        "--system-url",
        UNREACHABLE,
    ]);
    assert_error_line(&bad_system, "--system-url");
    // clap's own usage errors exit 2 as well.
    assert_eq!(tenant(&["check", "--no-such-flag"]).status.code(), Some(2));
    db.close().await;
}

#[test]
fn check_lists_its_validations() {
    let out = tenant(&["check", "--list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let list = list.as_array().unwrap();
    assert!(list.len() >= 25);
    let ids: BTreeSet<&str> = list.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), list.len(), "unique ids");
    let text = stdout(&tenant(&["check", "--list"]));
    assert_eq!(text.lines().count(), list.len());
    assert!(
        text.lines()
            .all(|l| l.contains(" error ") || l.contains(" warning ")),
        "{text}"
    );
}

#[test]
fn every_command_has_help() {
    for command in [
        &["--help"][..],
        &["check", "--help"],
        &["seed", "--help"],
        &["init", "--help"],
        &["add-table", "--help"],
        &["emit-rls", "--help"],
    ] {
        let out = tenant(command);
        assert_eq!(out.status.code(), Some(0), "{command:?}");
        assert!(
            stdout(&out).contains("Usage: tenant"),
            "{command:?}: {}",
            stdout(&out)
        );
    }
    let help = stdout(&tenant(&["--help"]));
    for command in ["emit-rls", "check", "seed", "init", "add-table"] {
        assert!(help.contains(command), "{help}");
    }
    let check = stdout(&tenant(&["check", "--help"]));
    for flag in [
        "--database-url",
        "--system-url",
        "--json",
        "--strict",
        "--no-probe",
        "--skip",
        "--list",
        "--context-key",
        "DATABASE_URL",
        "TENANT_CONTEXT_KEY",
    ] {
        assert!(check.contains(flag), "{flag}: {check}");
    }
}

/// Validation `id` has severity error (so its failure exits 1).
fn assert_error(report: &serde_json::Value, id: &str) {
    let check = report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no validation {id}"));
    assert_eq!(check["severity"], "error", "{id}");
}

/// The misconfigurations an outside probe found passing `check` with exit
/// 0, each of which leaks: every one now fails it with an error.
#[sqlx::test]
async fn each_leaking_misconfiguration_fails_as_an_error(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts.clone()).await;
    add_rows(&db).await;
    let app = role_url(&opts, APP_ROLE);
    let system = role_url(&opts, SYSTEM_ROLE);
    let failed = || {
        let (code, report) = check_json(&["--database-url", &app, "--system-url", &system]);
        assert_eq!(code, Some(1), "{report:#}");
        let failed = ids_with(&report, "fail");
        (failed, report)
    };
    let owner = &db.owner;
    let run = async |sql: &str| {
        sqlx::raw_sql(sql)
            .execute(owner)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    };

    // CREATE on the tenancy schema: an overload there would be picked.
    run(&format!("GRANT CREATE ON SCHEMA tenancy TO {APP_ROLE}")).await;
    let (ids, report) = failed();
    assert_eq!(ids, set(&["role.no-create-on-schemas"]));
    assert_error(&report, "role.no-create-on-schemas");
    run(&format!("REVOKE CREATE ON SCHEMA tenancy FROM {APP_ROLE}")).await;

    // A policy with the right name, FOR SELECT only, and one TO another role.
    run("DROP POLICY rls_tenant_projects ON projects; \
         CREATE POLICY rls_tenant_projects ON projects FOR SELECT \
             USING (tenant_id = (SELECT c.tenant FROM tenancy.context c)); \
         CREATE POLICY open_writes ON projects FOR INSERT WITH CHECK (true)")
    .await;
    run(&format!(
        "DROP POLICY rls_tenant_users ON users; \
         CREATE POLICY rls_tenant_users ON users TO {SYSTEM_ROLE} \
             USING (tenant_id = (SELECT c.tenant FROM tenancy.context c))"
    ))
    .await;
    let (ids, report) = failed();
    assert!(ids.contains("policy.exact"), "{ids:?}");
    assert_error(&report, "policy.exact");
    let objects: BTreeSet<String> = findings(&report, "policy.exact")
        .iter()
        .map(|f| f["object"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(objects, set(&["public.projects", "public.users"]));
    run(&rls_ddl()).await;
    run("DROP POLICY open_writes ON projects").await;

    // A SECURITY DEFINER trigger function that hands every tenant's rows to
    // whoever writes a task (in a notice), owned by a role that skips RLS.
    run("CREATE FUNCTION public.leak_names() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$ \
         BEGIN RAISE NOTICE '%', (SELECT string_agg(name, ',') FROM public.projects); RETURN NEW; END $$; \
         CREATE TRIGGER leak AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION public.leak_names()")
    .await;
    let (ids, report) = failed();
    assert_eq!(ids, set(&["function.security-definer"]), "{report:#}");
    assert_error(&report, "function.security-definer");
    run("DROP TRIGGER leak ON tasks; DROP FUNCTION public.leak_names()").await;

    // Statistics back on tasks.title, which the model marks
    // #[tenant(no_statistics)], and an index expression and a statistics
    // object over it that ANALYZE would sample: EXPLAIN's estimates would
    // read other tenants' common titles out of any of them.
    run("ALTER TABLE tasks ALTER COLUMN title SET STATISTICS 100; \
         CREATE INDEX tasks_title_lower_idx ON tasks (tenant_id, lower(title)); \
         CREATE STATISTICS tasks_title_stats ON (lower(title)) FROM tasks")
    .await;
    let (ids, report) = failed();
    assert_eq!(ids, set(&["column.no-statistics"]), "{report:#}");
    assert_error(&report, "column.no-statistics");
    let found = findings(&report, "column.no-statistics");
    let text = |i: usize, key: &str| found[i][key].as_str().unwrap().to_owned();
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        text(0, "message").contains("column title has statistics target 100")
            && text(0, "fix").contains(
                "ALTER TABLE \"public\".\"tasks\" ALTER COLUMN \"title\" SET STATISTICS 0;"
            ),
        "{found:?}"
    );
    assert!(
        text(1, "message")
            .contains("index tasks_title_lower_idx has the expression `lower(title)`")
            && text(1, "fix").contains(
                "ALTER INDEX \"public\".\"tasks_title_lower_idx\" ALTER COLUMN 2 SET STATISTICS 0;"
            ),
        "{found:?}"
    );
    assert!(
        text(2, "message")
            .contains("statistics object tasks_title_stats has the expressions lower(title)")
            && text(2, "fix").contains("DROP STATISTICS \"public\".\"tasks_title_stats\";"),
        "{found:?}"
    );
    run(
        "ALTER INDEX tasks_title_lower_idx ALTER COLUMN 2 SET STATISTICS 0; \
         DROP STATISTICS tasks_title_stats",
    )
    .await;
    let (ids, _) = failed();
    assert_eq!(
        ids,
        set(&["column.no-statistics"]),
        "the column still fails"
    );
    run("DROP INDEX tasks_title_lower_idx").await;
    run(&rls_ddl()).await;

    // CREATEROLE: on PostgreSQL 15 the role can grant itself the system
    // role. Roles are cluster-wide, so this one is the test's own.
    let db_name = opts.get_database().unwrap();
    let creator = format!(
        "tenant_cli_creator_{}",
        db_name[db_name.len().saturating_sub(12)..].to_lowercase()
    );
    run(&format!(
        "DROP ROLE IF EXISTS {creator}; CREATE ROLE {creator} LOGIN CREATEROLE; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {creator}"
    ))
    .await;
    let (code, report) = check_json(&[
        "--database-url",
        &role_url(&opts, &creator),
        "--system-url",
        &system,
        "--no-probe",
    ]);
    run(&format!("DROP OWNED BY {creator}; DROP ROLE {creator}")).await;
    assert_eq!(code, Some(1));
    assert!(
        ids_with(&report, "fail").contains("role.no-createrole"),
        "{report:#}"
    );

    // Put right, it passes again.
    let (code, report) = check_json(&["--database-url", &app, "--system-url", &system]);
    assert_eq!(code, Some(0), "{report:#}");
    db.close().await;
}

/// A short name for a role of this test's own (roles are cluster-wide):
/// `prefix` and the end of the test database's name.
fn own_role(opts: &PgConnectOptions, prefix: &str) -> String {
    let db_name = opts.get_database().unwrap();
    format!(
        "{prefix}_{}",
        db_name[db_name.len().saturating_sub(12)..].to_lowercase()
    )
}

/// The probe enters a tenant as TenantPool does and goes through a row of
/// its own in every tenant table: where the tenant cannot (a policy that
/// admits none of its rows, a missing grant), check fails and names the
/// table and the SQLSTATE, while the probes that look for leaks still pass.
#[sqlx::test]
async fn a_tenant_that_cannot_use_its_own_rows_fails_the_probe(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts.clone()).await;
    add_rows(&db).await;
    let app = role_url(&opts, APP_ROLE);
    let system = role_url(&opts, SYSTEM_ROLE);
    sqlx::raw_sql(&format!(
        "ALTER POLICY rls_tenant_projects ON projects USING (false); \
         REVOKE UPDATE ON users FROM {APP_ROLE}"
    ))
    .execute(&db.owner)
    .await
    .unwrap();

    let (code, report) =
        check_json_with_key(&["--database-url", &app, "--system-url", &system], &db.key);
    assert_eq!(code, Some(1), "{report:#}");
    let failed = ids_with(&report, "fail");
    assert!(failed.contains("probe.tenant-own-rows"), "{failed:?}");
    assert_error(&report, "probe.tenant-own-rows");
    for id in [
        "probe.no-tenant-fails-closed",
        "probe.random-tenant-sees-nothing",
        "probe.cross-tenant-insert-refused",
        "probe.forged-switch-refused",
    ] {
        assert!(!failed.contains(id), "{id}: nothing leaks: {report:#}");
    }
    let own = findings(&report, "probe.tenant-own-rows");
    let by_object = |object: &str| {
        own.iter()
            .find(|f| f["object"] == object)
            .unwrap_or_else(|| panic!("no finding on {object}: {own:#?}"))
    };
    assert_eq!(own.len(), 2, "{own:#?}");
    let projects = by_object("public.projects");
    let message = projects["message"].as_str().unwrap();
    assert!(
        message.contains("entered through TenantPool")
            && message.contains("inserting a row of its own")
            && message.contains("42501")
            && message.contains("row-level security"),
        "{message}"
    );
    assert!(
        projects["fix"]
            .as_str()
            .unwrap()
            .contains("emit-rls policy"),
        "{projects}"
    );
    let users = by_object("public.users");
    let message = users["message"].as_str().unwrap();
    assert!(
        message.contains("updating the row it had just inserted was refused with 42501")
            && message.contains("permission denied"),
        "{message}"
    );
    assert!(
        users["fix"].as_str().unwrap().starts_with(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON \"public\".\"users\" TO {APP_ROLE};"
        )),
        "{users}"
    );

    // Without the key the probe cannot enter a tenant, and says what it needs.
    let (_, report) = check_json(&["--database-url", &app]);
    assert!(
        skip_reason(&report, "probe.tenant-own-rows").contains("TENANT_CONTEXT_KEY"),
        "{report:#}"
    );
    // With a key the database does not hold, the pool cannot start.
    let (code, report) = check_json_with_key(
        &["--database-url", &app],
        &tenant_runtime::tx::ContextKey::generate(7),
    );
    assert_eq!(code, Some(1));
    let refused = findings(&report, "probe.tenant-own-rows");
    assert_eq!(refused.len(), 1, "{report:#}");
    assert_eq!(refused[0]["object"], "TenantPool");
    assert!(
        refused[0]["message"]
            .as_str()
            .unwrap()
            .contains("context key 7"),
        "{refused:#?}"
    );
    // A malformed one is a usage error.
    assert_error_line(
        &tenant_with_env(
            &["check", "--database-url", &app],
            &[("TENANT_CONTEXT_KEY", "not-a-key")],
        ),
        "TENANT_CONTEXT_KEY is not a context key",
    );
    db.close().await;
}

/// On a database with the tenant_context extension, check reports it and
/// the mechanism a pool would choose, and the probe enters through it; a
/// function planted in the extension's schema and a role that may read
/// every setting fail the extension's check; a context that offers no
/// mechanism fails context.mechanism.
#[sqlx::test]
async fn the_context_mechanism_and_the_extension_are_reported_and_checked(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::with_mechanism(opts.clone(), Mechanism::Extension).await;
    add_rows(&db).await;
    let app = role_url(&opts, APP_ROLE);
    let system = role_url(&opts, SYSTEM_ROLE);
    let (code, report) =
        check_json_with_key(&["--database-url", &app, "--system-url", &system], &db.key);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(ids_with(&report, "skip").is_empty(), "{report:#}");
    let mechanism = note(&report, "context.mechanism");
    assert!(
        mechanism.contains("lists extension, ")
            && mechanism.contains("the tenant_context extension")
            && mechanism.contains("is installed (schema tenant_context)")
            && mechanism.contains("enters tenants with extension"),
        "{mechanism}"
    );
    let own = note(&report, "probe.tenant-own-rows");
    assert!(
        own.contains("(the extension mechanism)")
            && own.contains("public.projects, public.tasks, public.users"),
        "{own}"
    );

    let run = async |sql: &str| {
        sqlx::raw_sql(sql)
            .execute(&db.owner)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    };
    let reader = own_role(&opts, "tenant_cli_reader");
    run(&format!(
        "CREATE FUNCTION tenant_context.tenant(p uuid) RETURNS uuid LANGUAGE sql AS 'SELECT p'; \
         DROP ROLE IF EXISTS {reader}; CREATE ROLE {reader} LOGIN; GRANT pg_read_all_settings TO {reader}; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {reader}"
    ))
    .await;
    let (code, report) = check_json(&["--database-url", &role_url(&opts, &reader), "--no-probe"]);
    run(&format!("DROP OWNED BY {reader}; DROP ROLE {reader}")).await;
    assert_eq!(code, Some(1), "{report:#}");
    assert!(ids_with(&report, "fail").contains("context.extension-sealed"));
    let objects: BTreeSet<String> = findings(&report, "context.extension-sealed")
        .iter()
        .map(|f| f["object"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        objects,
        set(&[
            "tenant_context.tenant(uuid)",
            "tenant_context.token",
            reader.as_str()
        ]),
        "{report:#}"
    );
    run("DROP FUNCTION tenant_context.tenant(uuid)").await;
    let (code, report) = check_json(&["--database-url", &app, "--no-probe"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(ids_with(&report, "pass").contains("context.extension-sealed"));

    // A context that offers nothing: no pool can start here.
    run("CREATE OR REPLACE FUNCTION tenancy.context_mechanisms() RETURNS text[] LANGUAGE sql IMMUTABLE \
         SET search_path = pg_catalog, pg_temp AS $$SELECT '{}'::text[]$$")
    .await;
    let (code, report) = check_json(&["--database-url", &app, "--no-probe"]);
    assert_eq!(code, Some(1));
    let failed = findings(&report, "context.mechanism");
    assert_eq!(failed.len(), 1, "{report:#}");
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .contains("no tenant context mechanism runs where this URL connects"),
        "{failed:#?}"
    );
    db.close().await;
}

/// Defaults stored for the application role's connections here (role in
/// this database, the database for everyone, the role everywhere: one
/// the role gave itself) are warnings, with the reset for each scope.
#[sqlx::test]
async fn stored_settings_that_reach_the_application_role_are_reported(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts.clone()).await;
    let app = role_url(&opts, APP_ROLE);
    let name = opts.get_database().unwrap().to_owned();
    // How check writes the name in SQL (quoted when it has capitals).
    let spelled = tenant_sql::ident::spell(&name);
    let run = async |sql: &str| {
        sqlx::raw_sql(sql)
            .execute(&db.owner)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    };
    run(&format!(
        "ALTER ROLE {APP_ROLE} IN DATABASE \"{name}\" SET statement_timeout = '1min'; \
         ALTER DATABASE \"{name}\" SET app.flag = 'on'"
    ))
    .await;
    let (code, report) = check_json(&["--database-url", &app, "--no-probe"]);
    assert_eq!(code, Some(0), "a warning: {report:#}");
    assert_eq!(ids_with(&report, "fail"), set(&["role.no-stored-settings"]));
    let found = findings(&report, "role.no-stored-settings");
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(
        found[0]["object"],
        format!("role {APP_ROLE} in database {name}")
    );
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("statement_timeout=1min")
    );
    assert!(
        found[0]["fix"].as_str().unwrap().starts_with(&format!(
            "ALTER ROLE {APP_ROLE} IN DATABASE {spelled} RESET ALL;"
        )),
        "{found:#?}"
    );
    assert_eq!(found[1]["object"], format!("database {name}"));
    assert!(
        found[1]["fix"]
            .as_str()
            .unwrap()
            .starts_with(&format!("ALTER DATABASE {spelled} RESET app.flag;")),
        "{found:#?}"
    );
    let (code, _) = check_json(&["--database-url", &app, "--no-probe", "--strict"]);
    assert_eq!(code, Some(1));

    // Any role may store a default for itself: one of this test's own does.
    let role = own_role(&opts, "tenant_cli_settings");
    run(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
    ))
    .await;
    let itself = db.pool_as(&role, 1).await;
    sqlx::raw_sql(&format!("ALTER ROLE {role} SET search_path = public"))
        .execute(&itself)
        .await
        .expect("a role may alter its own defaults");
    itself.close().await;
    let (_, report) = check_json(&["--database-url", &role_url(&opts, &role), "--no-probe"]);
    run(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).await;
    let objects: Vec<&str> = findings(&report, "role.no-stored-settings")
        .iter()
        .map(|f| f["object"].as_str().unwrap())
        .collect();
    assert_eq!(
        objects,
        [format!("role {role}"), format!("database {name}")]
    );
    assert!(
        findings(&report, "role.no-stored-settings")[0]["fix"]
            .as_str()
            .unwrap()
            .starts_with(&format!("ALTER ROLE {role} RESET ALL;"))
    );

    run(&format!(
        "ALTER ROLE {APP_ROLE} IN DATABASE \"{name}\" RESET ALL; ALTER DATABASE \"{name}\" RESET ALL"
    ))
    .await;
    let (code, report) = check_json(&["--database-url", &app, "--no-probe", "--strict"]);
    assert_eq!(code, Some(0), "{report:#}");
    db.close().await;
}
