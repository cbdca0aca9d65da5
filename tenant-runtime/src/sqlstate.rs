//! The SQLSTATE codes the emitted SQL functions raise, so the runtime can
//! map them to [`Error`](crate::Error) variants without reading messages.
//!
//! Class `TN` is not used by PostgreSQL.

/// The transaction entered no tenant (or its context does not verify).
pub const NO_TENANT_CONTEXT: &str = "TN001";
/// `tenancy.enter` was given an id the tenants table does not have.
pub const TENANT_NOT_FOUND: &str = "TN002";
/// A row was written for another tenant, or moved between tenants.
pub const CROSS_TENANT_WRITE: &str = "TN003";
/// `tenancy.enter` was given a soft-deleted tenant.
pub const TENANT_DELETED: &str = "TN004";
/// The connection has no tenancy session (never opened, dropped by SQL,
/// or its key was retired).
pub const NO_SESSION: &str = "TN005";
/// `tenancy.open_session` refused the context key.
pub const CONTEXT_KEY_REJECTED: &str = "TN006";
/// `tenancy.enter` refused the token: forged, or already used.
pub const TOKEN_REFUSED: &str = "TN007";
/// The application role may create temporary tables.
pub const ROLE_CAN_CREATE_TEMP: &str = "TN008";
/// `tenancy.leave` found the connection's prepared statements changed.
pub const SESSION_TAMPERED: &str = "TN009";
/// tenant-members: the change would leave a tenant without an owner.
pub const LAST_OWNER: &str = "TN010";
/// tenant-members: the acting user's role may not make this membership
/// change.
pub const MEMBERSHIP_CHANGE_REFUSED: &str = "TN011";
/// tenant-members: an invitation was refused (DETAIL's `reason`).
pub const INVITATION_REFUSED: &str = "TN012";
