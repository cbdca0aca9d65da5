//! The one error type of tenant-runtime.

use sqlx::error::DatabaseError;

use crate::registry::RegistryError;
use crate::{ParseTenantIdError, TenantId, sqlstate};

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, one variant per thing a caller may want to
/// handle differently. Database errors are mapped by SQLSTATE, never by
/// message text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tenant table was queried outside a tenant transaction (the
    /// database's `tenancy.current_tenant()` found no tenant set).
    #[error(
        "no tenant context: {message}; query tenant tables inside TenantPool::begin or with_tenant"
    )]
    NoTenantContext {
        /// What the database said was missing.
        message: String,
    },
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
    /// A write named a tenant other than the transaction's, or tried to
    /// move a row to another tenant.
    #[error("cross-tenant write refused: {message}")]
    CrossTenantWrite {
        /// Which row and tenants were involved.
        message: String,
    },
    /// A unique constraint of the tenant (or a `global_unique`) already has
    /// this value.
    #[error("duplicate: {table} already has a row with the same values for {constraint}")]
    DuplicateWithinTenant {
        /// The table written to.
        table: String,
        /// The unique index or constraint that was violated.
        constraint: String,
    },
    /// A reference points at a row that does not exist in this tenant (a
    /// composite foreign key `(tenant, id)` failed), or a row is still
    /// referenced and cannot be deleted.
    #[error(
        "reference violated on {table} ({constraint}): the referenced row must exist in the same tenant"
    )]
    ReferenceViolation {
        /// The table written to.
        table: String,
        /// The foreign key that was violated.
        constraint: String,
    },
    /// `update` found no row with this key in the tenant.
    #[error("row not found: {table} has no row with that key in this tenant")]
    RowNotFound {
        /// `schema.table`.
        table: String,
    },
    /// The database could not be reached, or the pool gave up waiting.
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(#[source] sqlx::Error),
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
        /// Not deleted, or when the grace period ends.
        reason: String,
    },
    /// A string that should have been a tenant id.
    #[error(transparent)]
    InvalidTenantId(#[from] ParseTenantIdError),
    /// The registered models are inconsistent.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Any other database error, with the sqlx error kept whole.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        from_sqlx(e, None)
    }
}

/// Maps a sqlx error; `tenant` is the tenant being entered, when known.
pub(crate) fn from_sqlx(e: sqlx::Error, tenant: Option<TenantId>) -> Error {
    let db = match &e {
        sqlx::Error::Database(db) => db,
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => return Error::DatabaseUnavailable(e),
        _ => return Error::Database(e),
    };
    let code = db.code().unwrap_or_default();
    let table = || table_of(db.as_ref());
    let constraint = || db.constraint().unwrap_or_default().to_owned();
    match code.as_ref() {
        sqlstate::NO_TENANT_CONTEXT => Error::NoTenantContext {
            message: db.message().to_owned(),
        },
        sqlstate::CROSS_TENANT_WRITE => Error::CrossTenantWrite {
            message: db.message().to_owned(),
        },
        sqlstate::TENANT_NOT_FOUND | sqlstate::TENANT_DELETED => {
            let Some(tenant) = tenant.or_else(|| first_uuid(db.message())) else {
                return Error::Database(e);
            };
            if code == sqlstate::TENANT_NOT_FOUND {
                Error::TenantNotFound { tenant }
            } else {
                Error::TenantDeleted { tenant }
            }
        }
        "23505" => Error::DuplicateWithinTenant {
            table: table(),
            constraint: constraint(),
        },
        "23503" => Error::ReferenceViolation {
            table: table(),
            constraint: constraint(),
        },
        // connection_exception, admin/crash shutdown, cannot_connect_now,
        // too_many_connections
        c if c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "53300") => {
            Error::DatabaseUnavailable(e)
        }
        _ => Error::Database(e),
    }
}

fn table_of(db: &dyn DatabaseError) -> String {
    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .and_then(|pg| pg.table())
        .unwrap_or_default()
        .to_owned()
}

/// The tenant id a `tenancy.enter_tenant` message names (when called
/// directly from raw SQL, where the caller's tenant is not known here).
fn first_uuid(message: &str) -> Option<TenantId> {
    message
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find_map(|w| TenantId::parse(w).ok())
}
