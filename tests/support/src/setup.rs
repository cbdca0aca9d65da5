//! Database set-up shared by the integration tests and the benchmark: the
//! two login roles production uses, and the grants a deployment gives them.
//!
//! - [`APP_ROLE`]: LOGIN, not superuser, no BYPASSRLS, owns nothing.
//! - [`SYSTEM_ROLE`]: LOGIN BYPASSRLS, for cross-tenant work; the app role
//!   is not a member of it.

use sqlx::{Executor, PgPool, Row};
use tenant_runtime::tx::ContextKey;

/// The application role every isolation assertion runs as.
pub const APP_ROLE: &str = "tenant_rt_app";
/// The system role the `SystemPool` logs in as.
pub const SYSTEM_ROLE: &str = "tenant_rt_system";

/// Creates the roles if missing (they are cluster-wide and tests run in
/// parallel, so a concurrent creation is tolerated), then checks what the
/// tests rely on. `owner` must be able to create roles.
pub async fn ensure_roles(owner: &PgPool) -> Result<(), sqlx::Error> {
    for (role, attrs) in [
        (APP_ROLE, "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE"),
        (SYSTEM_ROLE, "LOGIN NOSUPERUSER BYPASSRLS"),
    ] {
        let sql = format!(
            "DO $$ BEGIN CREATE ROLE {role} {attrs}; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        );
        owner.execute(sql.as_str()).await?;
    }
    let row = sqlx::query(
        "SELECT a.rolsuper, a.rolbypassrls, s.rolbypassrls, pg_has_role($1, $2, 'MEMBER') \
         FROM pg_roles a, pg_roles s WHERE a.rolname = $1 AND s.rolname = $2",
    )
    .bind(APP_ROLE)
    .bind(SYSTEM_ROLE)
    .fetch_one(owner)
    .await?;
    let (app_super, app_bypass, system_bypass, member): (bool, bool, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(
        !app_super && !app_bypass,
        "{APP_ROLE} must be subject to RLS"
    );
    assert!(system_bypass, "{SYSTEM_ROLE} must have BYPASSRLS");
    assert!(!member, "{APP_ROLE} must not be a member of {SYSTEM_ROLE}");
    Ok(())
}

/// Broad grants, as many deployments have them (`ALL TABLES`, the tenants
/// table included): what keeps the app role out of other tenants' rows and
/// off the tenants table's writes is row-level security, not missing grants.
pub async fn grant(owner: &PgPool) -> Result<(), sqlx::Error> {
    // Temporary tables would outlive a transaction on a pooled connection
    // (check's role.no-temp); PostgreSQL grants TEMP to PUBLIC by default.
    let sql = format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {SYSTEM_ROLE};
         DO $$ BEGIN EXECUTE format('REVOKE TEMP ON DATABASE %I FROM PUBLIC', current_database()); END $$;"
    );
    owner.execute(sql.as_str()).await?;
    Ok(())
}

/// Everything a fresh test database needs before the app connects: the
/// roles, `ddl` applied by `owner` in one transaction (as a migration
/// would), the grants, and a fresh tenant context key, which it returns
/// for the tenant pools.
pub async fn install(owner: &PgPool, ddl: &str) -> Result<ContextKey, sqlx::Error> {
    ensure_roles(owner).await?;
    let mut tx = owner.begin().await?;
    tx.execute(ddl).await?;
    tx.commit().await?;
    grant(owner).await?;
    install_key(owner, 1).await
}

/// A new context key with this id, installed in the database (as
/// `tenant context-key new --apply` does).
pub async fn install_key(owner: &PgPool, id: i32) -> Result<ContextKey, sqlx::Error> {
    let key = ContextKey::generate(id);
    sqlx::query("INSERT INTO tenancy.context_keys (key_id, key) VALUES ($1, $2)")
        .bind(key.id())
        .bind(key.expose_bytes())
        .execute(owner)
        .await?;
    Ok(key)
}

/// Installs the `tenant_context` extension in the database (as `owner`,
/// who may create it: a superuser, or the database's owner since it is a
/// trusted extension) and points the tenant context at it.
pub async fn install_extension(owner: &PgPool) -> Result<(), sqlx::Error> {
    owner
        .execute(
            "CREATE EXTENSION IF NOT EXISTS tenant_context; SELECT tenancy.install_context(true);",
        )
        .await
        .map(|_| ())
}

/// The tenant context without the extension, as on a server that has
/// none: the plain-SQL context first (a choice later migrations keep),
/// then the extension dropped.
pub async fn remove_extension(owner: &PgPool) -> Result<(), sqlx::Error> {
    owner
        .execute(
            "DO $$ BEGIN
                 IF pg_catalog.to_regprocedure('tenancy.install_context(boolean)') IS NOT NULL THEN
                     PERFORM tenancy.install_context(false);
                 END IF;
             END $$;
             DROP EXTENSION IF EXISTS tenant_context;",
        )
        .await
        .map(|_| ())
}
