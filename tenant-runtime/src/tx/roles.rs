//! What a pool checks about the role each of its connections logs in as.

use sqlx::postgres::PgConnection;

use crate::error::{Error, Result};

/// What the role must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Subject to row-level security: the application role.
    RlsApplies,
    /// Bypassing it: the system role.
    BypassesRls,
}

const ROLE: &str = "SELECT rolname::text, rolsuper OR rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = current_user";

/// Superusers and `BYPASSRLS` roles skip every policy (table owners do
/// not: the DDL forces row-level security on them too).
pub(crate) async fn check(conn: &mut PgConnection, expect: Expect) -> Result<()> {
    let (role, bypasses): (String, bool) = sqlx::query_as(ROLE).fetch_one(&mut *conn).await?;
    match (expect, bypasses) {
        (Expect::RlsApplies, false) | (Expect::BypassesRls, true) => Ok(()),
        (Expect::RlsApplies, true) => Err(Error::RoleBypassesRls { role }),
        (Expect::BypassesRls, false) => Err(Error::SystemRoleLacksBypass { role }),
    }
}
