//! The one error type of tenant-runtime.
//!
//! Database errors are mapped by SQLSTATE and by the structured fields the
//! emitted SQL functions raise (`DETAIL` as JSON, `SCHEMA`, `TABLE`),
//! never by message text. A variant that wraps a cause says what happened
//! in its own message and leaves the cause to `source()`, so an error
//! reporter that prints the chain prints each part once.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use sqlx::postgres::PgDatabaseError;
use time::OffsetDateTime;

use crate::model::registry::RegistryError;
use crate::sqlstate;
use crate::tenant_id::{ParseTenantIdError, TenantId};

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, one variant per thing a caller may want to
/// handle differently.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tenant table was queried outside a tenant transaction: the
    /// database found no tenant context (`TN001`).
    #[error(
        "no tenant context: tenant tables can only be read or written inside a tenant \
         transaction (TenantPool::begin or with_tenant)"
    )]
    NoTenantContext,
    /// No tenant has this id.
    #[error("tenant not found: no tenant has id {tenant}")]
    TenantNotFound {
        /// The id that was asked for.
        tenant: TenantId,
    },
    /// The tenant is soft-deleted; restore it or wait for the purge.
    #[error("tenant {tenant} is deleted; restore it to use it again")]
    TenantDeleted {
        /// The deleted tenant.
        tenant: TenantId,
    },
    /// The tenant's purge has begun, so it can no longer be restored.
    #[error("tenant {tenant} is being purged and can no longer be restored")]
    TenantPurging {
        /// The tenant.
        tenant: TenantId,
    },
    /// A row of one tenant was written in a transaction of another, or a
    /// row was moved to another tenant.
    #[error(
        "cross-tenant write refused on {table}: the row names tenant {}, the transaction is tenant {}",
        display_tenant(*.found),
        display_tenant(*.expected)
    )]
    CrossTenantWrite {
        /// `schema.table` written to.
        table: String,
        /// The transaction's tenant (for a move: the row's tenant before).
        expected: Option<TenantId>,
        /// The tenant the row named (for a move: the tenant it was moved to).
        found: Option<TenantId>,
    },
    /// A unique index or constraint already has a row with these values:
    /// within the tenant for `unique(..)`, across tenants for
    /// `global_unique(..)`.
    #[error(
        "unique violation: {table} already has a row with the same {}",
        if .columns.is_empty() { format!("values for {constraint}") } else { .columns.join(", ") }
    )]
    UniqueViolation {
        /// `schema.table` written to.
        table: String,
        /// The unique index or constraint.
        constraint: String,
        /// Its columns, when a registered model declares it (the tenant
        /// column left out); empty otherwise.
        columns: Vec<String>,
    },
    /// A row names, through a reference, a row that does not exist in this
    /// tenant (a composite foreign key `(tenant, id)` failed on an insert
    /// or an update of the referencing row).
    #[error(
        "reference to a missing row on {table} ({constraint}): the referenced row must exist in the same tenant"
    )]
    ReferenceMissing {
        /// `schema.table` with the reference.
        table: String,
        /// The foreign key.
        constraint: String,
    },
    /// A row cannot be deleted (or its key changed) because rows of
    /// `table` still reference it (a foreign key without `ON DELETE
    /// CASCADE` or `SET NULL`).
    #[error(
        "the row is still referenced from {table} ({constraint}): delete or change those rows first"
    )]
    StillReferenced {
        /// `schema.table` that still references it.
        table: String,
        /// The foreign key.
        constraint: String,
    },
    /// `update` found no row with this key in the tenant.
    #[error("row not found: {table} has no row with that key in this tenant")]
    RowNotFound {
        /// `schema.table`.
        table: String,
    },
    /// A statement of the transaction failed, so PostgreSQL rolled it all
    /// back; `commit` reports it instead of pretending to commit.
    #[error("the transaction was aborted by an earlier failed statement and has been rolled back")]
    TransactionAborted,
    /// Hand-written SQL in the transaction changed the connection's
    /// prepared statements (SQL-level `PREPARE` or `DEALLOCATE`): the
    /// transaction was rolled back and the connection closed, so no later
    /// request runs a statement it did not write.
    #[error(
        "the connection's prepared statements were changed by SQL in this transaction: \
         it was rolled back and the connection closed"
    )]
    SessionTampered,
    /// A statement of the transaction was run while its connection was
    /// lent out by [`Tx::connection`](crate::tx::Tx::connection): it would
    /// wait for the connection forever, so it fails instead.
    #[error(
        "the transaction's connection is lent out (Tx::connection): drop that guard \
         before running the transaction's other statements"
    )]
    ConnectionHeld,
    /// [`Tx::static_select`](crate::tx::Tx::static_select) was given
    /// something other than one `SELECT`.
    #[error("static_select takes one SELECT statement, not {sql:?}: use raw(..) for anything else")]
    NotAStaticSelect {
        /// The statement.
        sql: &'static str,
    },
    /// A membership change would leave the tenant without an owner
    /// (tenant-members): the last owner cannot leave or be demoted.
    #[error(
        "tenant {tenant} would have no owner left: make another member owner first, then leave or demote this one"
    )]
    LastOwner {
        /// The tenant.
        tenant: TenantId,
    },
    /// The acting user's role may not make this membership change
    /// (tenant-members): memberships are changed by an admin or owner,
    /// the owner role only by an owner, and a transaction with no
    /// verified user (`TenantPool::begin_as`) changes none.
    #[error(
        "membership change refused: it needs the {needed} role in this tenant (begin the transaction with begin_as for a user who has it)"
    )]
    MembershipChangeRefused {
        /// The least role that may make it (`admin` or `owner`).
        needed: String,
    },
    /// An invitation could not be accepted, created or changed
    /// (tenant-members), for `reason`.
    #[error("invitation refused: {reason}")]
    InvitationRefused {
        /// Why.
        reason: InvitationRefusal,
    },
    /// No [`ContextKey`](crate::tx::ContextKey) was given to the tenant
    /// pool, and `TENANT_CONTEXT_KEY` is not set.
    #[error(
        "the tenant pool has no context key: pass one with TenantPool::options().context_key(..) \
         or set TENANT_CONTEXT_KEY in the process environment (`tenant context-key new` makes one and \
         installs it; the library reads no .env file, call dotenvy::dotenv() first if you keep it there)"
    )]
    ContextKeyMissing,
    /// `TENANT_CONTEXT_KEY` is not a context key.
    #[error("TENANT_CONTEXT_KEY is not a context key")]
    InvalidContextKey(#[source] crate::tx::ContextKeyError),
    /// The database does not hold this context key, or it is retired.
    #[error(
        "the database refused context key {key_id}: it is unknown or retired; install it with \
         `tenant context-key new --apply` or give the pool the current one"
    )]
    ContextKeyRejected {
        /// The key's id.
        key_id: i32,
    },
    /// The database has no tenant context (`tenancy.context_mechanisms()`):
    /// the emit-rls migration is not applied.
    #[error(
        "the database has no tenant context (tenancy.context_mechanisms()): apply the emit-rls migration first"
    )]
    ContextNotInstalled,
    /// None of the context mechanisms the migration installed runs where
    /// this pool connects.
    #[error(
        "no tenant context mechanism runs here: the database offers [{}]{}{}; {}",
        .installed.join(", "),
        if *.standby { ", the server is a hot standby" } else { "" },
        if *.pooler { ", and the pool goes through a transaction pooler" } else { "" },
        "apply the newest emit-rls migration (its bound tokens run behind poolers and on standbys), or install the tenant_context extension"
    )]
    NoContextMechanism {
        /// What `tenancy.context_mechanisms()` listed.
        installed: Vec<String>,
        /// Whether the server is a hot standby.
        standby: bool,
        /// Whether the pool was told it goes through a transaction pooler.
        pooler: bool,
    },
    /// The application role may create temporary tables, one of which
    /// could stand in for the tenancy session or shadow a table's name.
    #[error(
        "the application role may create temporary tables: REVOKE TEMP ON DATABASE .. FROM PUBLIC \
         and from the role (`tenant roles --apply` does it)"
    )]
    RoleCanCreateTemp,
    /// The connection lost its tenancy session, and a fresh connection did
    /// not get one either.
    #[error("the connection has no tenancy session, and a new connection did not open one")]
    SessionLost,
    /// The database refused the transaction's tenant token. The pool
    /// makes tokens itself, so this means the connection's state was
    /// tampered with; it is closed.
    #[error("the database refused the tenant token of this connection")]
    TokenRefused,
    /// The database could not be reached, closed the connection, or is
    /// shutting down; retrying later may work.
    #[error("database unavailable: the server cannot be reached or is shutting down")]
    DatabaseUnavailable(#[source] sqlx::Error),
    /// Every connection of the pool stayed busy for the whole acquire
    /// timeout.
    #[error("pool exhausted: no connection became free within {waited:?}")]
    PoolTimedOut {
        /// The acquire timeout.
        waited: Duration,
    },
    /// The pool was closed.
    #[error("the pool is closed")]
    PoolClosed,
    /// The pool given to `TenantPool` logs in as a role that skips
    /// row-level security, so isolation would silently not apply.
    #[error(
        "role {role} bypasses row-level security (superuser or BYPASSRLS): \
         connect the TenantPool as an application role without either"
    )]
    RoleBypassesRls {
        /// The role the pool logs in as.
        role: String,
    },
    /// The pool given to `SystemPool` cannot read across tenants.
    #[error(
        "role {role} cannot bypass row-level security: connect the SystemPool as a \
         separate role created WITH BYPASSRLS (and not granted to the application role)"
    )]
    SystemRoleLacksBypass {
        /// The role the pool logs in as.
        role: String,
    },
    /// A tenant name gives an empty slug.
    #[error("tenant name {name:?} has no letters or digits to make a slug from: give a slug")]
    InvalidTenantName {
        /// The name given.
        name: String,
    },
    /// A slug that is not lowercase letters, digits and dashes.
    #[error(
        "invalid slug {slug:?}: use lowercase letters, digits and single dashes, e.g. acme-corp"
    )]
    InvalidSlug {
        /// The slug given.
        slug: String,
    },
    /// Another tenant already has this slug.
    #[error("slug {slug:?} is taken by another tenant")]
    SlugTaken {
        /// The slug given.
        slug: String,
    },
    /// A purge was asked for a tenant that is not deleted, or whose grace
    /// period has not ended.
    #[error("tenant {tenant} cannot be purged yet: {reason}")]
    PurgeRefused {
        /// The tenant.
        tenant: TenantId,
        /// Why.
        reason: PurgeRefusal,
    },
    /// A string that should have been a tenant id.
    #[error(transparent)]
    InvalidTenantId(#[from] ParseTenantIdError),
    /// The registered models are inconsistent.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Any other database error; the sqlx error is its source.
    #[error("database error{}", sqlstate_suffix(.0))]
    Database(#[source] sqlx::Error),
}

/// Why a purge was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PurgeRefusal {
    /// The tenant is active: soft-delete it first (`tenants().delete`).
    #[error("it is not deleted; delete it first (tenants().delete)")]
    NotDeleted,
    /// The grace period, during which a restore is still possible, is not over.
    #[error("its grace period ends at {ends_at}")]
    GraceNotOver {
        /// When the purge becomes possible.
        ends_at: OffsetDateTime,
    },
}

fn display_tenant(tenant: Option<TenantId>) -> String {
    tenant.map_or_else(|| "(none)".to_owned(), |t| t.to_string())
}

fn sqlstate_suffix(e: &sqlx::Error) -> String {
    match e.as_database_error().and_then(|db| db.code()) {
        Some(code) => format!(" (SQLSTATE {code})"),
        None => String::new(),
    }
}

impl Error {
    /// This error as the statement `sql` raised it: a failed reference of
    /// a `DELETE` is a row still referenced, of an `INSERT` a reference to
    /// a missing row, whatever language the server's messages are in.
    pub(crate) fn for_statement(self, sql: &str) -> Self {
        let verb = sql
            .trim_start()
            .split_ascii_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match (self, verb.as_str()) {
            (Error::ReferenceMissing { table, constraint }, "DELETE") => {
                Error::StillReferenced { table, constraint }
            }
            (Error::StillReferenced { table, constraint }, "INSERT") => {
                Error::ReferenceMissing { table, constraint }
            }
            (other, _) => other,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        let pg = match &e {
            sqlx::Error::Database(db) => db.try_downcast_ref::<PgDatabaseError>(),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => return Error::DatabaseUnavailable(e),
            _ => return Error::Database(e),
        };
        let Some(pg) = pg else {
            return Error::Database(e);
        };
        // connection_exception, admin/crash shutdown, cannot_connect_now,
        // too_many_connections
        let code = pg.code();
        if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300") {
            return Error::DatabaseUnavailable(e);
        }
        match from_database(pg) {
            Some(mapped) => mapped,
            None => Error::Database(e),
        }
    }
}

/// Why tenant-members refused an invitation (`Error::InvitationRefused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvitationRefusal {
    /// No invitation of this tenant has that token.
    Unknown,
    /// It was accepted already: an invitation is single use.
    Used,
    /// Its expiry has passed (or, creating one, is not in the future).
    Expired,
    /// It was sent to another email than the accepting user's.
    NotYours,
    /// The user is a member of the tenant already.
    AlreadyMember,
    /// The transaction acts for no verified user (begin it with `begin_as`).
    NoUser,
    /// SQL tried to change an invitation; only accepting changes one.
    Changed,
    /// A reason this version does not know.
    Other,
}

impl InvitationRefusal {
    /// The reason tenant-members' SQL names in `DETAIL` ([`code`](Self::code)).
    fn from_code(code: &str) -> Self {
        [
            Self::Unknown,
            Self::Used,
            Self::Expired,
            Self::NotYours,
            Self::AlreadyMember,
            Self::NoUser,
            Self::Changed,
        ]
        .into_iter()
        .find(|r| r.code() == code)
        .unwrap_or(Self::Other)
    }

    /// A stable snake_case name (`used`, `not_yours`, ..).
    pub fn code(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Used => "used",
            Self::Expired => "expired",
            Self::NotYours => "not_yours",
            Self::AlreadyMember => "already_member",
            Self::NoUser => "no_user",
            Self::Changed => "changed",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for InvitationRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unknown => "this organisation has no invitation with that token",
            Self::Used => "the invitation was accepted already; ask for a new one",
            Self::Expired => "the invitation has expired; ask for a new one",
            Self::NotYours => "the invitation was sent to another email than yours",
            Self::AlreadyMember => "you are a member of this organisation already",
            Self::NoUser => "no signed-in user: begin the transaction with begin_as",
            Self::Changed => {
                "an invitation is changed only by accepting it; delete it and invite again"
            }
            Self::Other => "refused by the database",
        })
    }
}

/// What the emitted functions put in `DETAIL`, as JSON. Each id is read
/// on its own, so one that is not a tenant id (a forged setting, say) does
/// not hide the others.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Detail {
    tenant: Option<String>,
    expected: Option<String>,
    found: Option<String>,
    key_id: Option<i32>,
    needed: Option<String>,
    reason: Option<String>,
}

fn tenant_of(id: Option<String>) -> Option<TenantId> {
    TenantId::parse(&id?).ok()
}

fn from_database(pg: &PgDatabaseError) -> Option<Error> {
    let detail = || -> Detail {
        pg.detail()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default()
    };
    let table = || match (pg.schema(), pg.table()) {
        (Some(schema), Some(table)) => format!("{schema}.{table}"),
        (None, Some(table)) => table.to_owned(),
        _ => String::new(),
    };
    let constraint = || pg.constraint().unwrap_or_default().to_owned();
    Some(match pg.code() {
        sqlstate::NO_TENANT_CONTEXT => Error::NoTenantContext,
        sqlstate::CROSS_TENANT_WRITE => {
            let d = detail();
            Error::CrossTenantWrite {
                table: table(),
                expected: tenant_of(d.expected),
                found: tenant_of(d.found),
            }
        }
        sqlstate::TENANT_NOT_FOUND => Error::TenantNotFound {
            tenant: tenant_of(detail().tenant)?,
        },
        sqlstate::TENANT_DELETED => Error::TenantDeleted {
            tenant: tenant_of(detail().tenant)?,
        },
        sqlstate::NO_SESSION => Error::SessionLost,
        sqlstate::CONTEXT_KEY_REJECTED => Error::ContextKeyRejected {
            key_id: detail().key_id.unwrap_or_default(),
        },
        sqlstate::TOKEN_REFUSED => Error::TokenRefused,
        sqlstate::ROLE_CAN_CREATE_TEMP => Error::RoleCanCreateTemp,
        sqlstate::SESSION_TAMPERED => Error::SessionTampered,
        sqlstate::LAST_OWNER => Error::LastOwner {
            tenant: tenant_of(detail().tenant)?,
        },
        sqlstate::MEMBERSHIP_CHANGE_REFUSED => Error::MembershipChangeRefused {
            needed: detail().needed.unwrap_or_default(),
        },
        sqlstate::INVITATION_REFUSED => Error::InvitationRefused {
            reason: InvitationRefusal::from_code(detail().reason.as_deref().unwrap_or_default()),
        },
        "25P02" => Error::TransactionAborted,
        "23505" => Error::UniqueViolation {
            columns: crate::model::registry::unique_columns(
                pg.schema().unwrap_or("public"),
                pg.table().unwrap_or_default(),
                pg.constraint().unwrap_or_default(),
            ),
            table: table(),
            constraint: constraint(),
        },
        // Both report the referencing table; only the message says which
        // side failed. Statements of this library correct it by their
        // kind (Error::for_statement), whatever the server's language.
        "23503" if pg.message().starts_with("update or delete on table") => {
            Error::StillReferenced {
                table: table(),
                constraint: constraint(),
            }
        }
        "23503" => Error::ReferenceMissing {
            table: table(),
            constraint: constraint(),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::InvitationRefusal;

    #[test]
    fn every_invitation_reason_reads_back_from_its_code() {
        for code in [
            "unknown",
            "used",
            "expired",
            "not_yours",
            "already_member",
            "no_user",
            "changed",
        ] {
            assert_eq!(InvitationRefusal::from_code(code).code(), code);
        }
        assert_eq!(
            InvitationRefusal::from_code("new"),
            InvitationRefusal::Other
        );
    }
}
