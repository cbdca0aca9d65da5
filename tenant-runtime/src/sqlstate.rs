//! The SQLSTATE codes the emitted SQL functions raise, so the runtime can
//! map them to [`Error`](crate::Error) variants without reading messages.
//!
//! Class `TN` is not used by PostgreSQL.

/// `app.current_tenant` is unset, empty or not a UUID.
pub const NO_TENANT_CONTEXT: &str = "TN001";
/// `tenancy.enter_tenant` was given an id the tenants table does not have.
pub const TENANT_NOT_FOUND: &str = "TN002";
/// A row was written for another tenant, or moved between tenants.
pub const CROSS_TENANT_WRITE: &str = "TN003";
/// `tenancy.enter_tenant` was given a soft-deleted tenant.
pub const TENANT_DELETED: &str = "TN004";
