//! `tenant seed`: creates a tenant through the system role.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_runtime::TenantId;

use crate::cli_common::{
    Scratch, UNREACHABLE, assert_error_line, role_url, stderr, stdout, tenant, tenant_with_env,
};
use crate::common::{APP_ROLE, SYSTEM_ROLE, TestDb};

async fn tenant_count(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM public.tenants")
        .fetch_one(&db.owner)
        .await
        .unwrap()
}

#[sqlx::test]
async fn seed_prints_the_new_tenants_id_or_json(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts.clone()).await;
    let system = role_url(&opts, SYSTEM_ROLE);

    let out = tenant(&["seed", "--name", "Initech", "--system-url", &system]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = TenantId::parse(stdout(&out).trim()).expect("stdout is the id");
    let (name, slug): (String, String) =
        sqlx::query_as("SELECT name, slug FROM public.tenants WHERE id = $1")
            .bind(id)
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!((name.as_str(), slug.as_str()), ("Initech", "initech"));

    // A derived slug never collides: "Acme Corp" exists, this one gets -2.
    let out = tenant(&[
        "seed",
        "--name",
        "Acme Corp",
        "--json",
        "--system-url",
        &system,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 6, "{json}");
    for key in [
        "id",
        "name",
        "slug",
        "created_at",
        "deleted_at",
        "purge_started_at",
    ] {
        assert!(keys.contains(&key), "{key} in {json}");
    }
    assert!(TenantId::parse(json["id"].as_str().unwrap()).is_ok());
    assert_eq!(
        (json["name"].as_str(), json["slug"].as_str()),
        (Some("Acme Corp"), Some("acme-corp-2"))
    );
    assert!(json["deleted_at"].is_null());

    // With no flag, SYSTEM_DATABASE_URL is used; DATABASE_URL (the
    // application role) never is.
    let app = role_url(&opts, APP_ROLE);
    let out = tenant_with_env(
        &["seed", "--name", "Hooli", "--slug", "hooli"],
        &[("SYSTEM_DATABASE_URL", &system), ("DATABASE_URL", &app)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(tenant_count(&db).await, 5);
    db.close().await;
}

#[sqlx::test]
async fn a_taken_slug_exits_1_and_names_the_tenant_that_has_it(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts.clone()).await;
    let system = role_url(&opts, SYSTEM_ROLE);
    let acme = db.tenants[0].to_string();

    let out = tenant(&[
        "seed",
        "--name",
        "Another Acme",
        "--slug",
        "acme-corp",
        "--system-url",
        &system,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: slug \"acme-corp\" is taken by tenant ") && err.contains(&acme),
        "{err}"
    );
    assert!(stdout(&out).is_empty());

    let out = tenant(&[
        "seed",
        "--name",
        "Another Acme",
        "--slug",
        "acme-corp",
        "--json",
        "--system-url",
        &system,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["error"], "slug_taken");
    assert_eq!(json["slug"], "acme-corp");
    assert_eq!(json["tenant"]["id"].as_str(), Some(acme.as_str()));
    assert_eq!(tenant_count(&db).await, 2, "nothing was created");
    db.close().await;
}

#[sqlx::test]
async fn seed_refuses_the_app_role_and_bad_input(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts.clone()).await;
    let system = role_url(&opts, SYSTEM_ROLE);
    let app = role_url(&opts, APP_ROLE);

    assert_error_line(
        &tenant(&["seed", "--name", "X", "--system-url", &app]),
        "cannot bypass row-level security",
    );
    assert_error_line(
        &tenant(&["seed", "--name", "X", "--system-url", UNREACHABLE]),
        "127.0.0.1:1",
    );
    let nobody = role_url(&opts, "tenant_cli_nobody");
    assert_error_line(
        &tenant(&["seed", "--name", "X", "--system-url", &nobody]),
        "tenant_cli_nobody",
    );
    assert_error_line(
        &tenant(&[
            "seed",
            "--name",
            "X",
            "--slug",
            "Not A Slug",
            "--system-url",
            &system,
        ]),
        "invalid slug",
    );
    assert_error_line(
        &tenant(&["seed", "--name", "!!!", "--system-url", &system]),
        "give a slug",
    );
    assert_error_line(&tenant(&["seed", "--name", "X"]), "--system-url");
    assert_error_line(
        &tenant_with_env(&["seed", "--name", "X"], &[("DATABASE_URL", &system)]),
        "SYSTEM_DATABASE_URL",
    );
    assert_eq!(
        tenant(&["seed", "--system-url", &system]).status.code(),
        Some(2),
        "--name is required"
    );
    assert_eq!(tenant_count(&db).await, 2);
    db.close().await;
}

#[sqlx::test]
async fn seed_without_a_tenants_table_says_to_apply_the_migration(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = Scratch::new(opts, "SELECT 1").await;
    let out = tenant(&["seed", "--name", "X", "--system-url", &db.url(SYSTEM_ROLE)]);
    assert_error_line(
        &out,
        "relation \"public.tenants\" does not exist: apply the emit-rls migration first",
    );
    db.close().await;
}

/// `--owner-email` in a binary that links no library with a users table:
/// refused before anything is written, naming the library to link.
#[sqlx::test]
async fn an_owner_needs_a_users_library(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts.clone()).await;
    let system = role_url(&opts, SYSTEM_ROLE);
    let before = tenant_count(&db).await;
    let out = tenant(&[
        "seed",
        "--name",
        "Hooli",
        "--owner-email",
        "eve@hooli.example",
        "--system-url",
        &system,
    ]);
    assert_error_line(&out, "tenant_members::link()");
    assert_eq!(tenant_count(&db).await, before, "nothing created");
    db.close().await;
}
