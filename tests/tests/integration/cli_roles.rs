//! `tenant roles`: the least-privilege roles and grants, printed and
//! applied, and `check` passing on what they set up.

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::cli_common::{
    assert_error_line, check_json, ids_with, owner_url, role_url, stderr, stdout, tenant,
};
use crate::common::rls_ddl;

/// Roles of this test only (roles are cluster-wide and tests run in parallel).
const OWNER: &str = "tenant_rt_roles_owner";
const APP: &str = "tenant_rt_roles_app";
const SYSTEM: &str = "tenant_rt_roles_system";

#[sqlx::test]
async fn roles_prints_applies_and_check_verifies_least_privilege(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    // The migration only: no role is granted anything yet.
    let owner = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone())
        .await
        .unwrap();
    owner.execute(rls_ddl().as_str()).await.unwrap();

    let names = [
        "--owner-role",
        OWNER,
        "--app-role",
        APP,
        "--system-role",
        SYSTEM,
    ];
    let mut args = vec!["roles"];
    args.extend_from_slice(&names);
    let printed = tenant(&args);
    assert_eq!(printed.status.code(), Some(0), "{}", stderr(&printed));
    let sql = stdout(&printed);
    for expected in [
        format!("CREATE ROLE \"{APP}\" LOGIN"),
        format!("ALTER ROLE \"{APP}\" NOSUPERUSER NOBYPASSRLS NOCREATEROLE"),
        format!("ALTER ROLE \"{SYSTEM}\" NOSUPERUSER BYPASSRLS"),
        format!("REVOKE \"{SYSTEM}\" FROM \"{APP}\""),
        format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON \"public\".\"projects\" TO \"{APP}\", \"{SYSTEM}\""
        ),
        format!("GRANT SELECT ON public.tenants TO \"{APP}\""),
    ] {
        assert!(sql.contains(&expected), "{expected}\nin:\n{sql}");
    }

    // Before: the application role cannot log in here, or has no grants.
    let admin = owner_url(&opts);
    let mut apply = args.clone();
    apply.extend_from_slice(&["--apply", "--admin-url", &admin]);
    for round in 0..2 {
        let out = tenant(&apply);
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).contains("3 model tables"), "{}", stdout(&out));
    }
    let seeded = tenant(&[
        "seed",
        "--name",
        "Acme",
        "--system-url",
        &role_url(&opts, SYSTEM),
    ]);
    assert_eq!(seeded.status.code(), Some(0), "{}", stderr(&seeded));

    let (code, report) = check_json(&[
        "--database-url",
        &role_url(&opts, APP),
        "--system-url",
        &role_url(&opts, SYSTEM),
    ]);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(ids_with(&report, "fail").is_empty(), "{report:#}");
    for id in [
        "role.not-superuser",
        "role.no-bypassrls",
        "role.owns-no-tenant-table",
        "role.not-member-of-privileged",
        "role.system-bypasses-rls",
        "tenants.write-system-only",
        "grant.model-privileges",
    ] {
        assert!(ids_with(&report, "pass").contains(id), "{id}: {report:#}");
    }
    // Least privilege: the application role may only read the tenants table.
    let (writes,): (bool,) = sqlx::query_as(
        "SELECT has_table_privilege($1, 'public.tenants', 'INSERT, UPDATE, DELETE, TRUNCATE')",
    )
    .bind(APP)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert!(!writes);

    // One role in two jobs is refused.
    let same = tenant(&["roles", "--app-role", APP, "--system-role", APP]);
    assert_error_line(&same, "three different roles");
    owner.close().await;
}

/// `roles` never alters a role it did not create: an existing superuser
/// named as the owner stays one (with a warning), an existing superuser
/// named as the application role is refused, and a compatibility role
/// gets the model tables and default privileges like the others.
#[sqlx::test]
async fn roles_never_demotes_a_role_it_did_not_create_and_sets_up_a_compat_role(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let owner = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone())
        .await
        .unwrap();
    owner.execute(rls_ddl().as_str()).await.unwrap();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let [superuser, app, system, compat] =
        ["super", "app", "system", "compat"].map(|r| format!("tn_{suffix}_{r}"));
    owner
        .execute(format!("CREATE ROLE {superuser} LOGIN SUPERUSER").as_str())
        .await
        .unwrap();
    let admin = owner_url(&opts);
    let applied = tenant(&[
        "roles",
        "--owner-role",
        &superuser,
        "--app-role",
        &app,
        "--system-role",
        &system,
        "--compat-role",
        &compat,
        "--apply",
        "--admin-url",
        &admin,
    ]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    assert!(
        stderr(&applied).contains("never demoted"),
        "{}",
        stderr(&applied)
    );
    let still: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = $1")
        .bind(&superuser)
        .fetch_one(&owner)
        .await
        .unwrap();
    assert!(still, "an existing superuser is never demoted");
    let recorded: Vec<(String, String, bool)> =
        sqlx::query_as("SELECT role_name::text, job, created_here FROM tenancy.roles ORDER BY job")
            .fetch_all(&owner)
            .await
            .unwrap();
    assert_eq!(
        recorded,
        [
            (app.clone(), "app".to_owned(), true),
            (compat.clone(), "compat".to_owned(), true),
            (superuser.clone(), "owner".to_owned(), false),
            (system.clone(), "system".to_owned(), true),
        ]
    );
    // The compatibility role: the model tables, later tables (default
    // privileges of the owner), and writes on tenants; no BYPASSRLS.
    let (projects, tenants_insert, bypass): (bool, bool, bool) = sqlx::query_as(
        "SELECT has_table_privilege($1, 'public.projects', 'SELECT, INSERT, UPDATE, DELETE'), \
                has_table_privilege($1, 'public.tenants', 'INSERT'), \
                (SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = $1)",
    )
    .bind(&compat)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert!(projects && tenants_insert && !bypass);
    owner
        .execute(
            format!(
                "SET ROLE {superuser}; CREATE TABLE public.later (id bigserial PRIMARY KEY); \
                 CREATE SEQUENCE public.later_extra; RESET ROLE"
            )
            .as_str(),
        )
        .await
        .unwrap();
    for role in [&app, &compat] {
        let (table, sequence): (bool, bool) = sqlx::query_as(
            "SELECT has_table_privilege($1, 'public.later', 'INSERT'), \
                    has_sequence_privilege($1, 'public.later_extra', 'USAGE')",
        )
        .bind(role)
        .fetch_one(&owner)
        .await
        .unwrap();
        assert!(table && sequence, "{role}: default privileges");
    }

    // An existing superuser as the application role is refused, and left
    // as it is.
    let refused = tenant(&[
        "roles",
        "--owner-role",
        &format!("tn_{suffix}_owner"),
        "--app-role",
        &superuser,
        "--system-role",
        &system,
        "--apply",
        "--admin-url",
        &admin,
    ]);
    assert_error_line(&refused, "does not demote it");
    let still: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = $1")
        .bind(&superuser)
        .fetch_one(&owner)
        .await
        .unwrap();
    assert!(still);
    // So is an existing role with CREATEROLE (it could grant itself the
    // system role) as the compatibility role: left as it is.
    let creator = format!("tn_{suffix}_creator");
    owner
        .execute(format!("CREATE ROLE {creator} LOGIN CREATEROLE").as_str())
        .await
        .unwrap();
    let refused = tenant(&[
        "roles",
        "--owner-role",
        &format!("tn_{suffix}_owner"),
        "--app-role",
        &app,
        "--system-role",
        &system,
        "--compat-role",
        &creator,
        "--apply",
        "--admin-url",
        &admin,
    ]);
    assert_error_line(&refused, "CREATEROLE");
    let still: bool = sqlx::query_scalar("SELECT rolcreaterole FROM pg_roles WHERE rolname = $1")
        .bind(&creator)
        .fetch_one(&owner)
        .await
        .unwrap();
    assert!(still);

    owner
        .execute("DROP TABLE public.later; DROP SEQUENCE public.later_extra")
        .await
        .unwrap();
    for role in [&app, &system, &compat, &superuser, &creator] {
        owner
            .execute(format!("DROP OWNED BY {role} CASCADE; DROP ROLE {role}").as_str())
            .await
            .unwrap();
    }
    owner.close().await;
}
