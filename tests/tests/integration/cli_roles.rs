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
