//! `tenant init` and `tenant add-table`: model skeletons and the first RLS
//! migration from an existing database.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::cli_common::{
    Scratch, UNREACHABLE, assert_error_line, check_json, findings, role_url, stderr, stdout, tenant,
};
use crate::common::{APP_ROLE, TestDb, apply, rls_ddl};

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tenant-init-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn migrations(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[sqlx::test]
async fn init_on_the_example_database_gives_back_its_models_and_migration(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts.clone()).await;
    let url = role_url(&opts, APP_ROLE);
    let dir = out_dir("example");
    let d = dir.to_str().unwrap();

    let out = tenant(&["init", "--database-url", &url, "-o", d]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 models (Project, Task, User)"),
        "{}",
        stdout(&out)
    );
    let written = migrations(&dir);
    assert_eq!(written.len(), 1);
    assert!(written[0].to_str().unwrap().ends_with("_tenant_rls.sql"));
    // Byte for byte what emit-rls prints for the example models: the
    // skeletons carry the same columns, types, keys, defaults, uniques,
    // indexes and references as the hand-written models.
    assert_eq!(std::fs::read_to_string(&written[0]).unwrap(), rls_ddl());
    let models = std::fs::read_to_string(dir.join("models.rs")).unwrap();
    insta::assert_snapshot!(
        "init_models_of_the_example_database",
        models.replace(opts.get_database().unwrap(), "[db]")
    );

    // Nothing is overwritten without --force.
    let again = tenant(&["init", "--database-url", &url, "-o", d]);
    assert_error_line(&again, "models.rs exists: pass --force");
    std::fs::remove_file(dir.join("models.rs")).unwrap();
    let again = tenant(&["init", "--database-url", &url, "-o", d]);
    assert_error_line(&again, "_tenant_rls.sql exists: pass --force");
    // With it, models.rs is rewritten and the unchanged migration kept.
    let forced = tenant(&["init", "--database-url", &url, "-o", d, "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(
        stdout(&forced).contains("up to date"),
        "{}",
        stdout(&forced)
    );
    assert_eq!(migrations(&dir), written);
    assert_eq!(
        std::fs::read_to_string(dir.join("models.rs")).unwrap(),
        models
    );
    std::fs::remove_dir_all(&dir).unwrap();
    db.close().await;
}

/// Tables a model can describe fully, partly, and not at all.
const EXISTING: &str = r#"
CREATE TABLE public.tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.countries (code text PRIMARY KEY);
CREATE TABLE public.accounts (id int);
CREATE SCHEMA crm;
CREATE TYPE crm.stage AS ENUM ('lead', 'won', 'lost');
CREATE TABLE crm.accounts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES public.tenants (id),
    name varchar(80) NOT NULL,
    country text REFERENCES public.countries (code),
    vat_id text UNIQUE,
    balance numeric(12,2) NOT NULL DEFAULT 0,
    settings jsonb NOT NULL DEFAULT '{}',
    tags text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id)
);
CREATE INDEX accounts_tags_idx ON crm.accounts USING gin (tags);
CREATE TABLE crm.deals (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES public.tenants (id),
    account_id uuid NOT NULL,
    stage crm.stage NOT NULL DEFAULT 'lead',
    "type" text,
    amount double precision,
    seats smallint NOT NULL DEFAULT 1,
    score integer,
    closes_on date,
    logged_at timestamp,
    attachment bytea,
    ip inet,
    duration interval,
    "createdBy" text,
    FOREIGN KEY (tenant_id, account_id) REFERENCES crm.accounts (tenant_id, id)
);
CREATE INDEX deals_open_idx ON crm.deals (tenant_id, closes_on) WHERE stage = 'lead';
CREATE INDEX deals_stage_idx ON crm.deals (tenant_id, stage);
CREATE TABLE public.memberships (tenant_id uuid NOT NULL, user_id bigint NOT NULL, PRIMARY KEY (tenant_id, user_id));
CREATE TABLE public.audit_log (tenant_id text, message text);
"#;

#[sqlx::test]
async fn init_maps_types_and_notes_what_a_model_cannot_say(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = Scratch::new(opts.clone(), EXISTING).await;
    let dir = out_dir("existing");
    let out = tenant(&[
        "init",
        "--database-url",
        &db.url(APP_ROLE),
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Tables without a single-column key are described, and left out of the migration.
    let err = stderr(&out);
    let warnings: Vec<&str> = err
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        warnings,
        ["public.audit_log", "public.memberships"],
        "{err}"
    );
    let models = std::fs::read_to_string(dir.join("models.rs")).unwrap();
    insta::assert_snapshot!(
        "init_models_of_an_existing_schema",
        models.replace(opts.get_database().unwrap(), "[db]")
    );

    // The migration applies to the database it came from, and then the
    // two tables it covers have row-level security and the others do not.
    let migration = std::fs::read_to_string(&migrations(&dir)[0]).unwrap();
    apply(&db.owner, &migration).await;
    let (_, report) = check_json(&["--database-url", &db.url(APP_ROLE), "--no-probe"]);
    let without_rls: BTreeSet<&str> = findings(&report, "table.rls-enabled")
        .iter()
        .map(|f| f["object"].as_str().unwrap())
        .collect();
    assert_eq!(
        without_rls,
        BTreeSet::from(["public.audit_log", "public.memberships"]),
        "{report:#}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    db.close().await;
}

#[sqlx::test]
async fn add_table_prints_one_model_and_names_a_bad_table(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = Scratch::new(opts.clone(), EXISTING).await;
    let url = db.url(APP_ROLE);
    let out = tenant(&["add-table", "crm.deals", "--database-url", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("use tenant_runtime::{TenantId, TenantScoped};\n\n"),
        "{text}"
    );
    assert_eq!(text.matches("pub struct ").count(), 1, "{text}");
    assert!(
        text.contains("pub struct Deal {")
            && text.contains(r#"#[tenant(references = "accounts")]"#),
        "{text}"
    );
    // Unqualified names are looked up in every schema.
    let by_name = tenant(&["add-table", "deals", "--database-url", &url]);
    assert_eq!(stdout(&by_name), text);

    assert_error_line(
        &tenant(&["add-table", "invoices", "--database-url", &url]),
        "table \"invoices\" not found",
    );
    assert_error_line(
        &tenant(&["add-table", "countries", "--database-url", &url]),
        "has no tenant_id column",
    );
    assert_error_line(
        &tenant(&["add-table", "accounts", "--database-url", &url]),
        "crm.accounts, public.accounts",
    );
    assert_error_line(
        &tenant(&["add-table", "deals", "--database-url", UNREACHABLE]),
        "127.0.0.1:1",
    );
    assert_error_line(
        &tenant(&["init", "-o", "unused", "--database-url", UNREACHABLE]),
        "127.0.0.1:1",
    );
    let empty = role_url(&opts, APP_ROLE).replace(opts.get_database().unwrap(), "postgres");
    let none = tenant(&[
        "init",
        "-o",
        "unused",
        "--database-url",
        &empty,
        "--tenant-column",
        "no_such_column",
    ]);
    assert_error_line(&none, "nothing to generate");
    assert!(!Path::new("unused").exists());
    db.close().await;
}

/// A scratch database with `sql`, and `init` run on it as the application
/// role: the database, the output folder and the models written.
async fn init_on(opts: PgConnectOptions, sql: &str, name: &str) -> (Scratch, PathBuf, String) {
    let db = Scratch::new(opts, sql).await;
    let dir = out_dir(name);
    let out = tenant(&[
        "init",
        "--database-url",
        &db.url(APP_ROLE),
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let models = std::fs::read_to_string(dir.join("models.rs")).unwrap();
    (db, dir, models)
}

/// Every type of the shared type table, as a column, read back by `init`:
/// the Rust type the skeleton writes is the table's, which the derive
/// reads as the same SQL type again (checked by tenant-macros' unit
/// tests), so a type goes type -> SQL -> database -> skeleton -> the same
/// type.
#[sqlx::test]
async fn every_supported_type_round_trips_through_init(_: PgPoolOptions, opts: PgConnectOptions) {
    use tenant_sql::types::TYPES;
    let mut columns = String::new();
    for (i, t) in TYPES.iter().enumerate() {
        columns.push_str(&format!(",\n    c_{i} {} NOT NULL", t.sql));
        columns.push_str(&format!(",\n    n_{i} {}", t.sql));
        columns.push_str(&format!(",\n    a_{i} {}[] NOT NULL", t.sql));
    }
    let sql = format!(
        "{}\nCREATE TABLE public.round_trips (\n    id bigint PRIMARY KEY,\n    tenant_id uuid NOT NULL REFERENCES public.tenants (id){columns}\n);",
        tenant_runtime::ddl::PREAMBLE
    );
    let (db, dir, models) = init_on(opts.clone(), &sql, "round-trip").await;
    let field = |name: &str| -> String {
        let line = models
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("pub {name}: ")))
            .unwrap_or_else(|| panic!("no field {name} in:\n{models}"));
        line.trim()
            .trim_start_matches(&format!("pub {name}: "))
            .trim_end_matches(',')
            .to_owned()
    };
    for (i, t) in TYPES.iter().enumerate() {
        assert_eq!(field(&format!("c_{i}")), t.rust, "{}", t.sql);
        assert_eq!(
            field(&format!("n_{i}")),
            format!("Option<{}>", t.rust),
            "{}",
            t.sql
        );
        assert_eq!(
            field(&format!("a_{i}")),
            format!("Vec<{}>", t.rust),
            "{}[]",
            t.sql
        );
    }
    assert!(
        !models.contains("sql_type ="),
        "no type needed spelling out:\n{models}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    db.close().await;
}

/// Tables and columns whose names need quotes (upper case, a space, a
/// `"`), and a reference between two such tables.
const QUOTED: &str = r#"
CREATE TABLE public."Order Items" (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES public.tenants (id),
    "createdBy" text NOT NULL,
    "with space" integer,
    "say ""hi""" text,
    UNIQUE (tenant_id, "createdBy")
);
CREATE TABLE public."Line ""Items""" (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES public.tenants (id),
    "orderId" bigint NOT NULL
);
"#;

/// The skeleton `init` writes for [`QUOTED`] is the one the ui tests
/// compile (a pass case), so it is checked against the derive for real.
const QUOTED_SKELETON: &str = include_str!("../../../ui-tests/tests/ui/pass/init_quoted_names.rs");

#[sqlx::test]
async fn init_on_names_that_need_quotes_writes_a_skeleton_and_ddl_that_work(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let sql = format!(
        "{}\n{QUOTED}\nALTER TABLE public.\"Order Items\" ADD UNIQUE (tenant_id, id);\n\
         ALTER TABLE public.\"Line \"\"Items\"\"\" ADD FOREIGN KEY (tenant_id, \"orderId\") REFERENCES public.\"Order Items\" (tenant_id, id);",
        tenant_runtime::ddl::PREAMBLE
    );
    let (db, dir, models) = init_on(opts.clone(), &sql, "quoted").await;
    let models = models.replace(opts.get_database().unwrap(), "[db]");
    insta::assert_snapshot!("init_models_with_quoted_names", models);
    let body = models
        .split_once("use tenant_runtime::")
        .map(|(_, rest)| format!("use tenant_runtime::{rest}"))
        .unwrap();
    assert!(
        QUOTED_SKELETON.contains(&body),
        "ui-tests/tests/ui/pass/init_quoted_names.rs must hold the skeleton init writes:\n{body}"
    );

    // The migration applies (twice: it is idempotent) and the tables then
    // work under row-level security as the application role.
    let migration = std::fs::read_to_string(&migrations(&dir)[0]).unwrap();
    apply(&db.owner, &migration).await;
    apply(&db.owner, &migration).await;
    let tenants: Vec<tenant_runtime::TenantId> = {
        let system = tenant_runtime::SystemPool::connect_with(
            db.opts.clone().username(crate::common::SYSTEM_ROLE),
        )
        .await
        .unwrap();
        let tx = system.begin().await.unwrap();
        let a = tx.tenants().create("A").await.unwrap().id;
        let b = tx.tenants().create("B").await.unwrap().id;
        tx.commit().await.unwrap();
        system.close();
        vec![a, b]
    };
    let app = tenant_runtime::TenantPool::options()
        .context_key(db.key.clone())
        .connect_with(db.opts.clone().username(APP_ROLE))
        .await
        .unwrap();
    for (tenant, who) in [(tenants[0], "ada"), (tenants[1], "bob")] {
        let mut tx = app.begin(tenant).await.unwrap();
        let order: i64 = sqlx::query_scalar(
            r#"INSERT INTO public."Order Items" ("createdBy", "say ""hi""") VALUES ($1, 'hello') RETURNING id"#,
        )
        .bind(who)
        .fetch_one(tx.conn())
        .await
        .unwrap();
        sqlx::query(r#"INSERT INTO public."Line ""Items""" ("orderId") VALUES ($1)"#)
            .bind(order)
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = app.begin(tenants[0]).await.unwrap();
    let seen: Vec<String> = sqlx::query_scalar(r#"SELECT "createdBy" FROM public."Order Items""#)
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, ["ada"], "each tenant sees its own rows only");
    drop(tx);
    app.close();
    std::fs::remove_dir_all(&dir).unwrap();
    db.close().await;
}
