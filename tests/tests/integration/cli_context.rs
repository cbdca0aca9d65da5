//! `tenant context-key` (make, install, rotate the keys tenant pools open
//! connections with) and `tenant compat` (the opt-in set_config mode for a
//! @usebetterdev/tenant service, on a role of its own).

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Column as _, Executor, Row};
use tenant_runtime::tx::ContextKey;
use tenant_runtime::{Error, TenantPool};

use crate::cli_common::{
    assert_error_line, check_json, ids_with, owner_url, role_url, stderr, stdout, tenant,
};
use crate::common::{APP_ROLE, TestDb, insert_project};

#[sqlx::test]
async fn context_key_new_installs_a_working_key_and_retire_stops_it(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts.clone()).await;
    let admin = owner_url(&opts);
    let [a, _] = db.tenants;

    let out = tenant(&["context-key", "--admin-url", &admin, "new"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = stdout(&out);
    let spec = printed
        .trim()
        .strip_prefix("TENANT_CONTEXT_KEY=")
        .unwrap_or_else(|| panic!("{printed}"));
    let second: ContextKey = spec.parse().unwrap();
    assert_eq!(second.id(), 2, "the next id after the installed key 1");
    assert!(!stderr(&out).contains(&second.expose_hex()));

    let pool = TenantPool::options()
        .context_key(second.clone())
        .max_connections(1)
        .connect_with(db.connect_as(APP_ROLE))
        .await
        .unwrap();
    pool.begin(a).await.unwrap().commit().await.unwrap();

    // Listing shows ids and dates, never a key.
    let out = tenant(&["context-key", "--admin-url", &admin, "list"]);
    let listed = stdout(&out);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(!listed.contains(&second.expose_hex()) && !listed.contains(&db.key.expose_hex()));

    // Rotation: retire the first key; the pool on the second goes on.
    let out = tenant(&["context-key", "--admin-url", &admin, "retire", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = db.app.begin(a).await.unwrap_err();
    assert!(
        matches!(err, Error::ContextKeyRejected { key_id: 1 }),
        "{err:?}"
    );
    pool.begin(a).await.unwrap().commit().await.unwrap();

    // The last key in use is kept unless forced; ids are never reused;
    // the application role cannot touch the keys.
    assert_error_line(
        &tenant(&["context-key", "--admin-url", &admin, "retire", "2"]),
        "last key in use",
    );
    assert_error_line(
        &tenant(&["context-key", "--admin-url", &admin, "new", "--id", "1"]),
        "key 1 exists already",
    );
    assert_error_line(
        &tenant(&["context-key", "--admin-url", &admin, "retire", "9"]),
        "no key 9",
    );
    assert_error_line(
        &tenant(&[
            "context-key",
            "--admin-url",
            &role_url(&opts, APP_ROLE),
            "new",
        ]),
        "permission denied",
    );
    assert_error_line(&tenant(&["context-key", "new"]), "--admin-url");
    pool.close();
    db.close().await;
}

/// A role for a Node service in compatibility mode: cluster-wide, so
/// created if missing; its grants and compat entry are this database's.
const NODE_ROLE: &str = "tenant_rt_node";

#[sqlx::test]
async fn compat_mode_trusts_set_config_only_for_the_role_allowed(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts.clone()).await;
    let [a, b] = db.tenants;
    for (tenant, name) in [(a, "a-secret"), (b, "b-secret")] {
        insert_project(&db.app, tenant, name).await;
    }
    db.owner
        .execute(
            format!(
                "DO $$ BEGIN CREATE ROLE {NODE_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; \
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
                 GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {NODE_ROLE}"
            )
            .as_str(),
        )
        .await
        .unwrap();
    let admin = owner_url(&opts);
    let app_url = role_url(&opts, APP_ROLE);
    let read_b = format!(
        "BEGIN; SELECT set_config('app.current_tenant', '{b}', true); SELECT name FROM projects"
    );
    let read_as = async |role: &str| {
        let pool = db.pool_as(role, 1).await;
        let mut conn = pool.acquire().await.unwrap();
        let result = sqlx::raw_sql(&read_b).fetch_all(&mut *conn).await;
        let result = result.map(|rows| {
            rows.iter()
                .filter(|r| r.len() == 1 && r.columns()[0].name() == "name")
                .map(|r| r.get::<String, _>(0))
                .collect::<Vec<_>>()
        });
        drop(conn);
        pool.close().await;
        result
    };

    // Off by default: set_config enters nothing for either role.
    for role in [NODE_ROLE, APP_ROLE] {
        let err = read_as(role).await.unwrap_err();
        assert!(matches!(Error::from(err), Error::NoTenantContext), "{role}");
    }

    let out = tenant(&["compat", "--admin-url", &admin, "--allow-role", NODE_ROLE]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(read_as(NODE_ROLE).await.unwrap(), ["b-secret"]);
    let err = read_as(APP_ROLE).await.unwrap_err();
    assert!(matches!(Error::from(err), Error::NoTenantContext));
    // A compat role for another service does not fail the app's check.
    let (code, report) = check_json(&["--database-url", &app_url, "--no-probe"]);
    assert_eq!(code, Some(0), "{report:#}");

    // The application role is refused by the command, and by check when
    // put there by hand.
    assert_error_line(
        &tenant(&[
            "compat",
            "--admin-url",
            &admin,
            "--database-url",
            &app_url,
            "--allow-role",
            APP_ROLE,
        ]),
        "application role",
    );
    db.owner
        .execute(format!("INSERT INTO tenancy.compat_roles VALUES ('{APP_ROLE}')").as_str())
        .await
        .unwrap();
    let (code, report) = check_json(&["--database-url", &app_url, "--no-probe"]);
    assert_eq!(code, Some(1));
    assert!(ids_with(&report, "fail").contains("context.no-compat-for-app"));

    let out = tenant(&[
        "compat",
        "--admin-url",
        &admin,
        "--disallow-role",
        NODE_ROLE,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = read_as(NODE_ROLE).await.unwrap_err();
    assert!(matches!(Error::from(err), Error::NoTenantContext));
    db.owner
        .execute(format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {NODE_ROLE}").as_str())
        .await
        .unwrap();
    db.close().await;
}
