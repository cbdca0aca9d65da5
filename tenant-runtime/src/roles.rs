//! What the pools check about the role they log in as.

use sqlx::PgPool;

use crate::error::Result;

/// The pool's login role and whether row-level security applies to it.
pub(crate) struct RoleCheck {
    pub(crate) role: String,
    pub(crate) bypasses_rls: bool,
}

/// Superusers and `BYPASSRLS` roles skip every policy (table owners do
/// not: the DDL forces RLS on them).
pub(crate) async fn check(pool: &PgPool) -> Result<RoleCheck> {
    let (role, bypasses_rls): (String, bool) = sqlx::query_as(
        "SELECT rolname::text, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    Ok(RoleCheck { role, bypasses_rls })
}
