//! What a pool checks about the role each of its connections logs in as,
//! and what it learns of the server while it is there.

use sqlx::Row as _;
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

/// What a tenant pool needs to know of the server to choose its context
/// mechanism.
#[derive(Debug, Clone, Default)]
pub(crate) struct Server {
    /// `tenancy.context_mechanisms()`: what the migration installed.
    pub(crate) mechanisms: Vec<String>,
    /// A hot standby.
    pub(crate) in_recovery: bool,
    /// A Citus coordinator with the Citus form of the migration
    /// (`emit-rls --citus`): each tenant transaction also carries its
    /// context to the workers (`tenancy.citus_enter()`).
    pub(crate) citus: bool,
}

/// Simple-query text with no parameters, so it runs the same directly
/// and through a transaction pooler (no prepared statement to lose).
const ROLE: &str = "SELECT current_user::text, r.rolsuper OR r.rolbypassrls, \
     pg_catalog.has_database_privilege(current_user, pg_catalog.current_database(), 'TEMP'), \
     pg_catalog.pg_is_in_recovery() \
     FROM pg_catalog.pg_roles r WHERE r.rolname = current_user";
const MECHANISMS: &str = "SELECT pg_catalog.array_to_string(tenancy.context_mechanisms(), ','), \
     pg_catalog.to_regprocedure('tenancy.citus_enter()') IS NOT NULL \
     AND EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'citus')";

/// Superusers and `BYPASSRLS` roles skip every policy (table owners do
/// not: the DDL forces row-level security on them too); an application
/// role that may create temporary tables could shadow a table's name in a
/// later request's SQL on the same connection.
pub(crate) async fn check(conn: &mut PgConnection, expect: Expect) -> Result<Server> {
    let rows = sqlx::Executor::fetch_all(&mut *conn, sqlx::raw_sql(ROLE)).await?;
    let row = rows
        .first()
        .ok_or(Error::Database(sqlx::Error::RowNotFound))?;
    let (role, bypasses, temp, in_recovery): (String, bool, bool, bool) = (
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
    );
    match (expect, bypasses) {
        (Expect::RlsApplies, true) => return Err(Error::RoleBypassesRls { role }),
        (Expect::BypassesRls, false) => return Err(Error::SystemRoleLacksBypass { role }),
        (Expect::BypassesRls, true) => {
            return Ok(Server {
                in_recovery,
                ..Server::default()
            });
        }
        (Expect::RlsApplies, false) if temp => return Err(Error::RoleCanCreateTemp),
        (Expect::RlsApplies, false) => {}
    }
    let (mechanisms, citus) = match sqlx::Executor::fetch_all(&mut *conn, sqlx::raw_sql(MECHANISMS))
        .await
    {
        Ok(rows) => rows
            .first()
            .map(|r| Ok::<_, sqlx::Error>((r.try_get::<String, _>(0)?, r.try_get::<bool, _>(1)?)))
            .transpose()?
            .unwrap_or_default(),
        Err(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("42883" | "3F000")) =>
        {
            return Err(Error::ContextNotInstalled);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Server {
        mechanisms: mechanisms
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect(),
        in_recovery,
        citus,
    })
}
