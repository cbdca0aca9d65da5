//! Everything this crate uses from `tenant-runtime`, in one place, so a
//! change of the runtime's API is adapted here and nowhere else.

use tenant_runtime::Error;

pub(crate) use tenant_runtime::{ParseTenantIdError, TenantId, TenantPool, TenantTx, UserId};

/// Begins the request's tenant transaction (one round trip), acting for
/// `user` when the request has one.
pub(crate) async fn begin(
    pool: &TenantPool,
    tenant: TenantId,
    user: Option<UserId>,
) -> Result<TenantTx, Error> {
    match user {
        Some(user) => pool.begin_as(tenant, user).await,
        None => pool.begin(tenant).await,
    }
}

/// Runs `f` in a transaction for `tenant`: commit on `Ok`, roll back on
/// `Err` or panic.
pub(crate) async fn with_tenant<R, E>(
    pool: &TenantPool,
    tenant: TenantId,
    f: impl AsyncFnOnce(&mut TenantTx) -> Result<R, E>,
) -> Result<R, E>
where
    E: From<Error>,
{
    pool.with_tenant(tenant, f).await
}

/// Commits a request's transaction.
pub(crate) async fn commit(tx: TenantTx) -> Result<(), Error> {
    tx.commit().await
}

/// Rolls a request's transaction back.
pub(crate) async fn rollback(tx: TenantTx) -> Result<(), Error> {
    tx.rollback().await
}

/// A tenant by slug, read as the application role outside any tenant
/// transaction: id, slug, deleted.
pub(crate) async fn tenant_by_slug(
    pool: &TenantPool,
    slug: &str,
) -> Result<Option<(TenantId, String, bool)>, Error> {
    let found = pool.tenant_by_slug(slug).await?;
    Ok(found.map(|t| (t.id, t.slug, t.deleted_at.is_some())))
}

/// A tenant by id, read like [`tenant_by_slug`].
pub(crate) async fn tenant_by_id(
    pool: &TenantPool,
    id: TenantId,
) -> Result<Option<(TenantId, String, bool)>, Error> {
    let found = pool.tenant_by_id(id).await?;
    Ok(found.map(|t| (t.id, t.slug, t.deleted_at.is_some())))
}

/// How the HTTP layer should treat a runtime error.
pub(crate) enum RuntimeFailure {
    /// No tenant has this id.
    NotFound(TenantId),
    /// The tenant is soft-deleted.
    Deleted(TenantId),
    /// The database is down or the pool gave up waiting: retry later.
    Unavailable,
    /// A unique index refused the write: the columns taken (tenant column
    /// left out), when a model declares them.
    Unique(Vec<String>),
    /// A reference names a row that does not exist in the tenant.
    ReferenceMissing,
    /// The row is still referenced and cannot be deleted.
    StillReferenced,
    /// No row with that key in the tenant.
    RowNotFound,
    /// A row of another tenant, written or moved to.
    CrossTenantWrite,
    /// tenant-members: the tenant would have no owner left.
    LastOwner,
    /// tenant-members: the acting user's role may not make the change.
    ChangeRefused(String),
    /// tenant-members: an invitation refused, with its reason's code.
    InvitationRefused(&'static str),
    /// Anything else: a bug or a constraint the handler did not expect.
    Other,
}

/// Sorts a runtime error into what the HTTP layer distinguishes.
pub(crate) fn classify(e: &Error) -> RuntimeFailure {
    match e {
        Error::TenantNotFound { tenant } => RuntimeFailure::NotFound(*tenant),
        Error::TenantDeleted { tenant } => RuntimeFailure::Deleted(*tenant),
        Error::DatabaseUnavailable(_) | Error::PoolTimedOut { .. } | Error::PoolClosed => {
            RuntimeFailure::Unavailable
        }
        Error::UniqueViolation { columns, .. } => RuntimeFailure::Unique(columns.clone()),
        Error::ReferenceMissing { .. } => RuntimeFailure::ReferenceMissing,
        Error::StillReferenced { .. } => RuntimeFailure::StillReferenced,
        Error::RowNotFound { .. } => RuntimeFailure::RowNotFound,
        Error::CrossTenantWrite { .. } => RuntimeFailure::CrossTenantWrite,
        Error::LastOwner { .. } => RuntimeFailure::LastOwner,
        Error::MembershipChangeRefused { needed } => RuntimeFailure::ChangeRefused(needed.clone()),
        Error::InvitationRefused { reason } => RuntimeFailure::InvitationRefused(reason.code()),
        _ => RuntimeFailure::Other,
    }
}

/// sqlx errors that mean "the database cannot be reached now" (the same
/// set tenant-runtime maps to `DatabaseUnavailable`).
pub(crate) fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// The runtime's error type, named once here.
pub(crate) type RuntimeError = Error;
